"""Drive the real ``recoil`` command against the loopback ComfyUI, fal and Replicate servers.

:func:`start_server` starts one provider's loopback server and knows the
``recoil.toml`` tables that point a project at it (models per modality for fal
and Replicate; the workflow templates of ``comfyui_workflows/`` and their
binding for ComfyUI). :func:`environment` is a clean environment holding the
provider keys, and :func:`leaks` finds any key in files or output. The command
itself runs with :func:`tests.helpers.recoil`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.records.redact import is_secret_name
from tests.providers.servers import comfyui, fal, replicate

KEYS = {"FAL_KEY": "fal-e2e-key-7Q2mX9vL4c", "REPLICATE_API_TOKEN": "r8_e2eToken5Hn3Kd8Wp1Zs"}
"""The keys every run gets in its environment; none may show up anywhere."""

WORKFLOWS = Path(__file__).with_name("comfyui_workflows")
REMOTE = ("comfyui", "fal", "replicate")

_KOKORO_VERSION = "f559560eb822dc509045f3921a1921234918b91739db4bf3daab2169b71c7a13"
_MODELS = {
    # Models recoil ships bindings for; a chained beat's keyframe starts from an image.
    "fal": {
        "keyframe": "fal-ai/flux/dev",
        "keyframe_from_image": "fal-ai/flux/dev/image-to-image",
        "video": "fal-ai/kling-video/v2.1/standard/image-to-video",
        "audio": "fal-ai/elevenlabs/tts/multilingual-v2",
    },
    "replicate": {
        "keyframe": "black-forest-labs/flux-schnell",
        "keyframe_from_image": "black-forest-labs/flux-dev",
        "video": "kwaivgi/kling-v2.1",
        # A community model run by version: its name does not say it speaks.
        "audio": f"jaaari/kokoro-82m:{_KOKORO_VERSION}",
    },
}
_VOICES = (
    # Kokoro has voices of its own: the shot lists' espeak voices are mapped to them.
    '[providers.replicate.bindings."jaaari/kokoro-82m".inputs]\n'
    'voice = { to = "voice", map = { "en-us" = "af_sarah", "en-us+f3" = "af_bella", '
    '"en-us+m3" = "am_adam" } }\n'
)


@dataclass
class Server:
    """A running loopback server and what a project needs to use it."""

    provider: str
    url: str
    control: Any
    """The server's control (``FalControl``, ``ReplicateControl`` or ``ComfyControl``)."""

    def configure(self, project: Path, *, extra: str = "") -> None:
        """Append this provider's tables (and ``extra``) to ``project/recoil.toml``."""
        if self.provider == "comfyui":
            shutil.copytree(WORKFLOWS, project / "workflows", dirs_exist_ok=True)
            tables = f'[providers.comfyui]\nservers = ["{self.url}"]\n\n'
            tables += (WORKFLOWS / "binding.toml").read_text()
        else:
            base = self.url if self.provider == "fal" else f"{self.url}/v1"
            schema = ""
            if self.provider == "fal":
                schema = f'schema_url = "{self.url}{fal.SCHEMA_PATH}"\nstorage_url = "{self.url}"\n'
            models = "".join(f'{m} = "{n}"\n' for m, n in _MODELS[self.provider].items())
            tables = (
                f'[providers.{self.provider}]\nbase_url = "{base}"\n{schema}\n'
                f"[providers.{self.provider}.models]\n{models}"
            )
            if self.provider == "replicate":
                tables += f"\n{_VOICES}"
        with (project / "recoil.toml").open("a") as settings:
            settings.write(f"\n{extra}\n{tables}")

    def requests(self) -> Counter[str]:
        """How many submits the server accepted per distinct (model, input)."""
        control = self.control
        with control.lock:
            if self.provider == "fal":
                jobs = [(j.model, j.input) for j in control.jobs.values()]
            else:
                jobs = [(p.model, p.input) for p in control.predictions.values()]
        return Counter(json.dumps(job, sort_keys=True) for job in jobs)

    def stop(self) -> None:
        """Stop the server."""
        self.control.stop()


def start_server(provider: str) -> Server:
    """Start the loopback server of ``provider`` (``comfyui``, ``fal`` or ``replicate``)."""
    if provider == "fal":
        url, control = fal.start(key=KEYS["FAL_KEY"])
    elif provider == "replicate":
        url, control = replicate.start(token=KEYS["REPLICATE_API_TOKEN"])
        control.versions[_KOKORO_VERSION] = "jaaari/kokoro-82m"
        control.kinds["jaaari/kokoro-82m"] = "audio"
    else:
        url, control = comfyui.start()
        control.latency_s = 0.02
    return Server(provider=provider, url=url, control=control)


def environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment without secrets or RECOIL_* settings, plus :data:`KEYS`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RECOIL_") and not is_secret_name(name)
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    return {**env, **KEYS}


def leaks(folder: Path, *texts: str) -> list[str]:
    """Where a key of :data:`KEYS` appears: files under ``folder`` (by path) or ``texts``."""
    secrets = [value.encode() for value in KEYS.values()]
    found = [
        str(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and any(s in path.read_bytes() for s in secrets)
    ]
    found += [
        f"output #{i}" for i, text in enumerate(texts) if any(s.decode() in text for s in secrets)
    ]
    return found
