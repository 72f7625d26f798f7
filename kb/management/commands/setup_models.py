import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kb.pipeline import runtime
from kb.pipeline.types import PipelineError


class Command(BaseCommand):
    help = (
        "Verify and pre-load the configured embedding models from local weights (never from a hub): "
        "export and verify the fast ONNX backend, load each model once and report its dimensions."
    )

    def add_arguments(self, parser):
        parser.add_argument("models", nargs="*", help="model names (default: DEFAULT_EMBEDDING_MODEL and every "
                            "model folder under EMBEDDING_MODELS_PATH)")  # fmt: skip
        parser.add_argument("--force", action="store_true", help="export the ONNX model again")

    def handle(self, *args, models, force, **opts):
        from kb.pipeline.embed import REFERENCE_TEXTS, export_onnx

        names = models or self._configured()
        failures = 0
        for name in names:
            started = time.perf_counter()
            try:
                report = export_onnx(
                    name, models_path=settings.EMBEDDING_MODELS_PATH, cache_dir=runtime.models_cache_dir(), force=force
                )
                embedder = runtime.embedder(name)
                vectors = embedder.encode(list(REFERENCE_TEXTS[:4]))
            except PipelineError as exc:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{name}: {exc.message}"))
                continue
            onnx = (
                f"onnx verified (min cosine {report.min_cosine:.5f})"
                if report.verified
                else f"onnx off: {report.reason}"
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"{name}: {vectors.shape[1]} dims, max {embedder.max_seq_length} tokens, backend {embedder.backend}"
                    f" ({onnx}), ready in {time.perf_counter() - started:.1f}s"
                )
            )
        if failures:
            raise CommandError(f"{failures} model(s) could not be loaded")

    @staticmethod
    def _configured() -> list[str]:
        names = [settings.DEFAULT_EMBEDDING_MODEL]
        root = Path(settings.EMBEDDING_MODELS_PATH)
        if root.is_dir():
            names += sorted(p.name for p in root.iterdir() if (p / "config.json").exists() and p.name not in names)
        return names
