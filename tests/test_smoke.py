def test_home_renders(client):
    r = client.get("/")
    assert r.status_code == 200


def test_world_builds(world, client):
    from tests.conftest import login

    login(client, "a@example.vn")
    assert client.get("/dashboard/").status_code == 200
