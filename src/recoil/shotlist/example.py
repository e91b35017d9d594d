"""The example project that ``recoil init`` writes: a shot list and its settings.

A two-scene short (five beats, about twelve seconds of screen time, two takes
each) small enough that the whole film renders offline with the previz
provider in well under a minute, yet using every director field: shot sizes,
angles, lenses, camera movements, expressions, dialogue for two voices,
lighting, and keyframe chaining from one beat to the next.
"""

from __future__ import annotations

from pathlib import Path

from recoil.errors import ConfigError

SHOTLIST_NAME = "shotlist.yaml"
SETTINGS_NAME = "recoil.toml"

EXAMPLE_SHOTLIST = """\
# A recoil shot list: project defaults, characters, then scenes of beats.
# Unknown fields are errors, so a typo never goes unnoticed.
version: 1

project:
  title: The Last Train
  provider: previz            # offline renderer; try comfyui, fal or replicate
  resolution: 640x360
  fps: 24
  style: 1970s film noir, grainy 35mm film, high contrast
  negative_prompt: blurry, low quality, watermark, text, extra fingers
  takes_per_beat: 2
  primary_strategy: first_success
  seed: 1977

characters:
  mara:
    name: Mara
    description: a woman in her thirties, short dark hair, long grey trench coat
    voice: en-us+f3
  theo:
    name: Theo
    description: a tall elderly station guard, white moustache, navy uniform and cap
    voice: en-us+m3

scenes:
  - id: platform
    title: The platform
    location: an empty railway platform under a rusted iron canopy
    time_of_day: night
    beats:
      - id: arrival
        shot: {size: extreme_wide, angle: high, lens: 24, movement: push_in}
        action: Mara walks alone along the platform, suitcase in hand, steam drifting past
        characters: [mara]
        lighting: sodium street lamps, deep shadows, light rain
        duration: 2.5

      - id: guard
        shot: {size: medium, angle: eye_level, lens: 50, movement: static}
        action: Theo steps out of the ticket office and lifts his lantern
        characters: [theo]
        expression:
          theo: suspicious, eyebrows raised
        lighting: warm lantern glow against blue night
        dialogue:
          - {character: theo, text: "Last train left an hour ago, miss."}
        duration: 2.5

      - id: reply
        shot: {size: close_up, angle: low, lens: 85, movement: push_in}
        action: Mara looks down the empty tracks, then back at him
        characters: [mara]
        expression:
          mara: calm, a faint smile
        lighting: neon sign flickering red on her face
        dialogue:
          - {character: mara, text: "Then I'll wait for the next one."}
        duration: 2.5

  - id: waiting-room
    title: The waiting room
    location: a small station waiting room with wooden benches and a wall clock
    time_of_day: dawn
    beats:
      - id: clock
        shot: {size: extreme_close_up, angle: dutch, lens: 100, movement: tilt_down}
        action: The wall clock ticks past five; its second hand trembles
        lighting: cold grey dawn through dirty windows
        duration: 2

      - id: offer
        shot: {size: wide, angle: eye_level, lens: 35, movement: truck_right}
        action: Theo sets a cup of tea on the bench beside Mara and sits down
        characters: [theo, mara]
        expression:
          theo: gentle, tired
          mara: surprised
        lighting: golden hour sunlight rising through the windows
        dialogue:
          - {character: theo, text: "Nobody waits that long for a train."}
          - {character: mara, text: "I'm not waiting for a train."}
        duration: 3
        chain_from_previous: true
"""

EXAMPLE_SETTINGS = """\
# recoil project settings. Secrets (API keys, tokens) never go here: put them
# in the environment or in ~/.config/recoil/credentials.toml.

[project]
shotlist = "shotlist.yaml"
embed_prompts = true        # write prompts into PNG/MP4 metadata (false if confidential)
# database_url = "postgresql+psycopg://localhost/recoil"   # or RECOIL_DATABASE_URL

[run]
concurrency = 8             # steps in flight at once
retries = 3                 # per dispatch, for retryable provider errors
timeout_s = 600             # per dispatch
# budget = 5.00             # stop starting new dispatches past this spend
currency = "USD"

[providers.previz]
limit = 2                   # renders in flight (CPU-bound)

# [providers.fal]
# limit = 4
# rpm = 60

# [prices.fal]
# "fal-ai/flux/dev" = 0.025

# [evals]                   # every step's output is scored as it succeeds
# scorers = ["sharpness", "exposure", "flicker", "loudness"]   # default: all that fit
# clip_model = "models/clip"  # prompt adherence: a CLIP model on disk (recoil[clip])
# [evals.weights]           # scorer name -> weight in a take's aggregate score
# sharpness = 1.0

# [signing]                 # Content Credentials (C2PA) on outputs and the cut (recoil[c2pa])
# certificate = "certs/signer-chain.pem"            # PEM chain, signing certificate first
# private_key_file = "~/.config/recoil/signer.key"  # or RECOIL_C2PA_KEY; never copied
# trust_anchors = "certs/root.pem"                  # roots `recoil verify FILE` trusts
"""


def write_example(path: Path) -> None:
    """Create ``path`` (if needed) with the example ``shotlist.yaml`` and ``recoil.toml``.

    Raises :class:`ConfigError` if either file exists already, or if the folder or a file
    cannot be created there; no file is left behind then.
    """
    targets = {path / SHOTLIST_NAME: EXAMPLE_SHOTLIST, path / SETTINGS_NAME: EXAMPLE_SETTINGS}
    existing = [str(target) for target in targets if target.exists()]
    if existing:
        verb = "exists" if len(existing) == 1 else "exist"
        raise ConfigError(
            f"{' and '.join(existing)} already {verb}; choose an empty folder or remove them first"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is a file; choose a folder for the new project")
    created: list[Path] = []
    try:
        path.mkdir(parents=True, exist_ok=True)
        for target, text in targets.items():
            with target.open("x", encoding="utf-8", newline="\n") as handle:
                created.append(target)
                handle.write(text)
    except OSError as exc:
        # Half a project would make the next `recoil init` refuse: "already exists".
        for target in created:
            target.unlink(missing_ok=True)
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(
            f"cannot create {exc.filename or path}: {reason}; "
            "choose a folder you can write to for the new project"
        ) from None
