def test_home_renders(client):
    r = client.get("/")
    assert r.status_code == 200


def test_world_builds(world, client):
    from tests.conftest import login

    login(client, "a@example.vn")
    assert client.get("/dashboard/").status_code == 200


def test_lazily_built_urls_are_werkzeugs_own(app):
    """Every rule builds (on first use) the same URL as Werkzeug's eagerly compiled rule."""
    from werkzeug.routing import AnyConverter, IntegerConverter, Map, Rule

    from marketplace.internals import LazyBuildRule
    from marketplace.resolver.routes import CompressedConverter

    def sample(converter):
        if isinstance(converter, IntegerConverter):
            return 7
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)[0]
        return "ARFKk4XB0CDKWk1mHBYhXWg" if isinstance(converter, CompressedConverter) else "K7M2P9QX4RT8W3ZA"

    eager = Map([Rule(r.rule, endpoint=r.endpoint, methods=r.methods, defaults=r.defaults,
                      strict_slashes=r.strict_slashes) for r in app.url_map.iter_rules()],
                converters=app.url_map.converters)
    lazy, plain = app.url_map.bind("example.test"), eager.bind("example.test")
    rules = list(app.url_map.iter_rules())
    assert rules and all(isinstance(r, LazyBuildRule) for r in rules)
    for rule in rules:
        values = {arg: sample(rule._converters[arg]) for arg in rule.arguments if arg in rule._converters}
        for method in sorted(rule.methods or {"GET"}):
            for extra in ({}, {"q": "gạo nếp"}):  # unknown values become the query string
                assert lazy.build(rule.endpoint, {**values, **extra}, method=method) == plain.build(
                    rule.endpoint, {**values, **extra}, method=method), rule.rule
