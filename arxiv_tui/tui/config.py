"""The user's settings: a TOML file in the config directory, read with tomllib.

Written whole through `arxiv_tui.atomic` (a temp file, fsync, `os.replace`), so a crash never leaves half a file.
Unknown keys are kept out; a value of the wrong type falls back to the default with a warning.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from arxiv_tui import atomic
from arxiv_tui.paths import config_dir
from arxiv_tui.runtime.settings import (
    DEFAULT_MODEL,
    DEFAULT_TEMPLATE,
    GENERATION_DEFAULTS,
    PRECISIONS,
    RUNTIMES,
    GenerationSettings,
    SamplingParams,
    check,
)


@dataclass(frozen=True)
class Config:
    """Everything the app lets the user change."""

    model: str = DEFAULT_MODEL
    precision: str = "auto"
    runtime: str = "auto"  # see RUNTIMES: OpenVINO where it runs, else PyTorch
    template: str = ""  # text put before every prompt; empty: the one the model was trained with
    api_base: str = ""  # a completion server to draft against instead of `model` (see README)
    api_model: str = ""  # the server's model; empty: the first it lists
    api_key_env: str = "ARXIV_TUI_API_KEY"  # the variable holding the server's key (never stored here)
    n: int = GENERATION_DEFAULTS.n
    max_new_tokens: int = GENERATION_DEFAULTS.max_new_tokens
    temperature: float = GENERATION_DEFAULTS.temperature
    top_p: float = GENERATION_DEFAULTS.top_p
    top_k: int = GENERATION_DEFAULTS.top_k
    debounce_s: float = 0.4
    stop_at_sentence: bool = False
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys, e.g. accept = "tab"

    def backend_settings(self) -> tuple[str, ...]:
        """What a change of which means loading the model (or connecting to the server) again."""
        return (
            self.model,
            self.precision,
            self.runtime,
            self.template,
            self.api_base,
            self.api_model,
            self.api_key_env,
        )

    @property
    def model_name(self) -> str:
        """The model as the status bar and the history name it before it answers."""
        return f"{self.api_model or 'server'} @ {self.api_base}" if self.api_base else self.model

    def generation_settings(self, max_alternatives: int) -> GenerationSettings:
        """What a request of the app asks the engine for."""
        return GenerationSettings(
            n=min(self.n, max_alternatives),
            max_new_tokens=self.max_new_tokens,
            sampling=SamplingParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k),
            stop_at_sentence_end=self.stop_at_sentence,
        )

    def request_record(self, settings: GenerationSettings) -> dict:
        """What the history keeps of a request's settings."""
        return {
            "n": settings.n,
            "max_new_tokens": settings.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "stop_at_sentence": self.stop_at_sentence,
        }

    def validated(self) -> Config:
        """ValueError naming the first setting out of range."""
        for name in ("n", "max_new_tokens", "temperature", "top_p", "top_k"):
            check(name, getattr(self, name))
        if not 0 <= self.debounce_s <= 10:
            raise ValueError(f"debounce_s must be 0..10 seconds, not {self.debounce_s}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        return self


def config_path() -> Path:
    return config_dir() / "config.toml"


def load_config(path: Path | None = None) -> tuple[Config, list[str]]:
    """The config (defaults where the file says nothing) and warnings about what was ignored."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config(), []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Config(), [f"{path} was not read ({exc}); using defaults"]
    warnings, values = [], {}
    for f in fields(Config):
        if f.name not in data:
            continue
        value, default = data[f.name], getattr(Config(), f.name)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default) or (
            f.name == "keymap" and not all(isinstance(v, str) for v in value.values())
        ):
            warnings.append(f"{path}: {f.name} should be a {type(default).__name__}; using the default")
            continue
        values[f.name] = value
    if values.get("template") == DEFAULT_TEMPLATE:
        # Versions before model families wrote the seed's template into every file, as the
        # default; it now comes with the model (a Qwen base model was not trained with it).
        values["template"] = ""
    config = replace(Config(), **values)
    try:
        return config.validated(), warnings
    except ValueError as exc:
        return Config(keymap=config.keymap), [*warnings, f"{path}: {exc}; using the defaults"]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def save_config(config: Config, path: Path | None = None) -> None:
    """Write the whole file atomically."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(config)
    keymap = data.pop("keymap")
    lines = ["# arxiv-tui settings; see README.md", *(f"{k} = {_toml_value(v)}" for k, v in data.items())]
    lines += ["", "[keymap]", *(f"{k} = {_toml_value(v)}" for k, v in sorted(keymap.items()))]
    atomic.write_text(path, "\n".join(lines) + "\n")
