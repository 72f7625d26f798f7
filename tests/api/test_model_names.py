"""`embedding_config.model` names an installed model and nothing else: paths and `..` are refused through the API
and the wizard, and the error never shows where the server looked."""

import pytest
from django.urls import reverse

from kb.pipeline import runtime
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

DEFAULT_WEIGHTS = runtime.model_path("all-MiniLM-L6-v2")  # an absolute path that does hold a model
PATHS = [
    DEFAULT_WEIGHTS,  # a real model, but named by its location: refused all the same
    "/etc",
    "/root/.ssh",
    "../../../etc/passwd",
    "..",
    "models/../../secrets",
    "all-MiniLM-L6-v2/..",
    "C:\\Windows\\System32",
    "~/.cache/huggingface",
    "./all-MiniLM-L6-v2",
    "a/b/c",
]


@pytest.fixture
def models_dir(tmp_path, settings):
    """EMBEDDING_MODELS_PATH with one extra model folder ("support-minilm", the default's weights)."""
    (tmp_path / "support-minilm").symlink_to(DEFAULT_WEIGHTS, target_is_directory=True)
    (tmp_path / "not-a-model").mkdir()  # no config.json: not offered
    settings.EMBEDDING_MODELS_PATH = str(tmp_path)
    return tmp_path


def _config(client, draft, model):
    return client.patch(f"/api/v1/kb-drafts/{draft.pk}/config", {"embedding_config": {"model": model}}, format="json")


@pytest.mark.parametrize("model", PATHS)
def test_api_refuses_paths_without_echoing_a_probe(api, owner, draft, models_dir, model):
    error = error_of(_config(api(owner), draft, model), 400)
    message = " ".join([error["message"], *map(str, error["details"].get("embedding_config.model", []))])
    assert "embedding_config.model" in error["details"]
    assert "not a path" in message
    assert str(models_dir) not in message and "Looked in" not in message and DEFAULT_WEIGHTS not in message
    assert "all-MiniLM-L6-v2, support-minilm" in message  # what may be chosen instead
    draft.refresh_from_db()
    assert draft.embedding_config["model"] == "all-MiniLM-L6-v2"


def test_api_refuses_an_unknown_name_and_accepts_installed_ones(api, owner, draft, models_dir):
    client = api(owner)
    unknown = error_of(_config(client, draft, "all-MiniLM-L12-v9"), 400)
    assert "'all-MiniLM-L12-v9' is not an installed model" in unknown["message"]
    assert str(models_dir) not in unknown["message"]
    assert error_of(_config(client, draft, "not-a-model"), 400)["message"]  # a folder without config.json
    for name in ("support-minilm", "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        response = _config(client, draft, name)
        assert response.status_code == 200, response.json()
        draft.refresh_from_db()
        assert draft.embedding_config["model"] == name and draft.embedding_config["dimensions"] == 384


@pytest.mark.parametrize("model", [DEFAULT_WEIGHTS, "../../../etc/passwd", "/etc"])
def test_wizard_refuses_paths(client_for, owner, draft, models_dir, model):
    client = client_for(owner)
    url = reverse("drafts:embedding", args=[draft.pk])
    page = client.get(url).content.decode()
    assert 'value="support-minilm"' in page and "not-a-model" not in page
    response = client.post(url, {"model": model, "distance_metric": "cosine"})
    assert response.status_code == 400
    assert str(models_dir) not in response.content.decode()
    draft.refresh_from_db()
    assert draft.embedding_config["model"] == "all-MiniLM-L6-v2"
    assert client.post(url, {"model": "support-minilm", "distance_metric": "cosine"}).status_code == 302
    draft.refresh_from_db()
    assert draft.embedding_config["model"] == "support-minilm"


@pytest.mark.parametrize("model", ["/etc", DEFAULT_WEIGHTS, "../../etc", "all-MiniLM-L12-v9"])
def test_model_dimensions_refuses_paths_for_every_caller(models_dir, model):
    """kb.configs.model_dimensions is what the KB archive importer calls with a name read from an uploaded
    manifest: paths and unknown names are a model_missing error there too, naming no directory."""
    from kb.configs import model_dimensions
    from kb.pipeline.types import PipelineError

    with pytest.raises(PipelineError) as caught:
        model_dimensions(model)
    assert caught.value.code == "model_missing"
    assert str(models_dir) not in caught.value.message and DEFAULT_WEIGHTS not in caught.value.message
    assert model_dimensions("support-minilm") == 384


def test_a_listed_model_with_broken_files_names_no_path(api, owner, draft, models_dir):
    (models_dir / "broken-model").mkdir()
    (models_dir / "broken-model" / "config.json").write_text("{not json")
    error = error_of(_config(api(owner), draft, "broken-model"), 400)
    assert "cannot be loaded on this server" in error["message"] and str(models_dir) not in error["message"]
