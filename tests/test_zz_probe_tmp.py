def test_probe(app_factory):
    app = app_factory(TRUSTED_HOSTS=["market.example"], PROPAGATE_EXCEPTIONS=False)
    c = app.test_client()
    r = c.get("/", headers={"Host": "evil.example"})
    print(r.status_code, r.get_data(as_text=True)[:300])
    r = c.get("/", headers={"Host": "market.example"})
    print(r.status_code)
    assert 0
