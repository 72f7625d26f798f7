from django.urls import reverse

from tenants.tokens import api_token_create


def test_anonymous_html_is_redirected_to_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_with_csrf(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    assert b'<label for="id_username">' in response.content


def test_anonymous_api_is_401(client, db):
    response = client.get("/api/v1/workspaces/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_dashboard_lists_only_own_workspaces_and_escapes_names(client_for, workspace, member, outsider, kb):
    kb.name = "<script>alert(1)</script>"
    kb.save()
    html = client_for(member).get(reverse("home")).content.decode()
    assert "Support" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    outsider_html = client_for(outsider).get(reverse("home")).content.decode()
    assert "Support" not in outsider_html and "alert(1)" not in outsider_html


def test_workspaces_api_with_bearer_token(client, workspace, member, outsider):
    _, token = api_token_create(user=member, name="ci")
    response = client.get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert [(w["name"], w["role"]) for w in response.json()] == [("Support", "editor")]
    bad = client.get("/api/v1/workspaces/", HTTP_AUTHORIZATION="Bearer pxb_nope")
    assert bad.status_code == 401
