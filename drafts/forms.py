"""Forms of the draft wizard. They only parse input; the rules live in drafts.services and kb.configs,
whose ValidationErrors (keyed like "chunking_config.chunk_size") are attached to the matching field."""

from __future__ import annotations

import json
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from kb.configs import (
    DISTANCE_METRICS,
    validate_chunking_config,
)
from kb.pipeline.chunking.config import STRATEGIES
from privexbot.forms import Form, attach_errors

STRATEGY_LABELS = {"recursive": "Recursive", "by_heading": "By heading", "by_page": "By page", "semantic": "Semantic"}
STRATEGY_HELP = (
    "Recursive splits on the separators in order; by heading keeps sections together; by page keeps pages apart; "
    "semantic breaks where the topic changes (slower preview)."
)
DISTANCE_LABELS = {"cosine": "Cosine (recommended)", "euclidean": "Euclidean (L2)", "dot": "Dot product"}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data]
        return [super().clean(data, initial)]


class DraftBasicsForm(Form):
    name = forms.CharField(max_length=255, help_text="Shown to your team and in chatbot settings.")
    description = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Optional."
    )


class NewDraftForm(DraftBasicsForm):
    workspace = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces
        self.fields["workspace"].label_from_instance = lambda ws: f"{ws.organization.name} / {ws.name}"
        self.order_fields(["workspace", "name", "description"])


class FileSourceForm(Form):
    files = MultipleFileField(label="Files")


class TextSourceForm(Form):
    title = forms.CharField(max_length=255)
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), strip=False, label="Text")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _checked_patterns(value: str) -> str:
    """Each line compiled with the crawler's linear-time engine (RE2); the error names the pattern."""
    from drafts.crawler.patterns import PatternError, check_patterns

    try:
        check_patterns(_lines(value))
    except PatternError as exc:
        raise forms.ValidationError(str(exc)) from None
    return value


class WebsiteSourceForm(Form):
    url = forms.URLField(max_length=2000, label="Start URL", assume_scheme="https")
    max_depth = forms.IntegerField(min_value=0, max_value=10, initial=2, label="Link depth")
    max_pages = forms.IntegerField(min_value=1, max_value=1000, initial=50, label="Maximum pages")
    include_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line: a regex (e.g. /docs/), or glob: and a glob (e.g. glob:*/docs/*)",
    )
    exclude_patterns = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One per line"
    )

    def clean_include_patterns(self) -> str:
        return _checked_patterns(self.cleaned_data["include_patterns"])

    def clean_exclude_patterns(self) -> str:
        return _checked_patterns(self.cleaned_data["exclude_patterns"])

    def crawl_config(self) -> dict:
        data = self.cleaned_data
        return {
            "max_depth": data["max_depth"],
            "max_pages": data["max_pages"],
            "include_patterns": _lines(data["include_patterns"]),
            "exclude_patterns": _lines(data["exclude_patterns"]),
        }


class ChunkingForm(Form):
    strategy = forms.ChoiceField(choices=[(s, STRATEGY_LABELS.get(s, s)) for s in STRATEGIES], help_text=STRATEGY_HELP)
    size_unit = forms.ChoiceField(
        label="Size unit",
        choices=[("characters", "Characters"), ("tokens", "Tokens of the embedding model")],
        required=False,
        help_text="What chunk size and overlap count. Either way every chunk is cut to fit the model's window.",
    )
    chunk_size = forms.IntegerField(label="Chunk size (characters)", min_value=1)
    chunk_overlap = forms.IntegerField(label="Overlap (characters)", min_value=0)
    separators = forms.CharField(
        label="Separators",
        help_text='A JSON list, tried in order, e.g. ["\\n\\n", "\\n", ". ", " "].',
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    semantic_threshold = forms.FloatField(
        required=False, label="Semantic break percentile", help_text="Only for the semantic strategy (0–100)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The size fields are labelled with the unit they are in: the posted one, else the saved config's.
        unit = (self.data.get("size_unit") if self.is_bound else None) or self.initial.get("size_unit")
        unit = "tokens" if unit == "tokens" else "characters"
        self.fields["chunk_size"].label = f"Chunk size ({unit})"
        self.fields["chunk_overlap"].label = f"Overlap ({unit})"

    @classmethod
    def initial_for(cls, config: dict) -> dict:
        return {"size_unit": "characters", **config, "separators": json.dumps(config.get("separators", []))}

    def clean_separators(self):
        try:
            value = json.loads(self.cleaned_data["separators"])
        except ValueError:
            raise ValidationError('Write the separators as a JSON list, e.g. ["\\n\\n", ". "].') from None
        return value

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        config = {k: data[k] for k in ("strategy", "chunk_size", "chunk_overlap", "separators")}
        config["size_unit"] = data.get("size_unit") or "characters"
        if data.get("strategy") == "semantic" and data.get("semantic_threshold") is not None:
            config["semantic_threshold"] = data["semantic_threshold"]
        try:
            self.config = validate_chunking_config(config)
        except ValidationError as exc:
            attach_errors(self, exc)
        return data


def installed_models() -> list[str]:
    """The default model plus every model directory copied under EMBEDDING_MODELS_PATH."""
    names = [settings.DEFAULT_EMBEDDING_MODEL]
    root = Path(settings.EMBEDDING_MODELS_PATH)
    if root.is_dir():
        names += sorted(p.name for p in root.iterdir() if (p / "config.json").exists() and p.name not in names)
    return names


class EmbeddingForm(Form):
    model = forms.ChoiceField(label="Embedding model", choices=())
    distance_metric = forms.ChoiceField(choices=[(m, DISTANCE_LABELS.get(m, m)) for m in DISTANCE_METRICS])
    enable_hybrid_search = forms.BooleanField(
        required=False, label="Hybrid search (vector + keyword)", help_text="Recommended: finds exact terms too."
    )

    def __init__(self, *args, current_model: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        models = installed_models()
        if current_model and current_model not in models:
            models.append(current_model)
        self.fields["model"].choices = [(m, m) for m in models]

    @classmethod
    def initial_for(cls, draft) -> dict:
        return {
            "model": draft.embedding_config.get("model"),
            "distance_metric": draft.vector_store_config.get("distance_metric"),
            "enable_hybrid_search": draft.vector_store_config.get("enable_hybrid_search", True),
        }

    def changes(self) -> tuple[dict, dict]:
        """The embedding and vector-store settings this form sets; drafts.services merges them over the draft's
        configs and validates (a new model brings its own dimensions)."""
        data = self.cleaned_data
        vector_store = {
            "distance_metric": data["distance_metric"],
            "enable_hybrid_search": data["enable_hybrid_search"],
        }
        return {"model": data["model"]}, vector_store
