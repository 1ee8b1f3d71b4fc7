"""What a job is asked to make: one typed value with one owner for its keys and forms.

`JobParams` is the single definition of a job's parameters (workflow, backend,
models, every LoRA with its role and strength, seed, size, steps, cfg, sampler,
scheduler, prompt, variant, extras). It owns:

* its keys: `SCALARS` (the typed scalar fields) and `LEGACY_LORA_KEYS` (the
  single-LoRA keys sweep files, genserver sidecars and workflow bindings use);
* normalisation: weights are exact (0.6000000000000001 is 0.6), `use_lora =
  false` means no character LoRA and therefore no weight, a speed LoRA exists
  only when it has a file;
* identity: `key_hash()` (re-queueing a sweep only adds missing cells) and
  `label(cell)`;
* every form it takes: the job row (`to_json` / `from_json`), the workflow
  binding's flat values (`binding_values`), the sidecar (`sidecar_fields` /
  `from_sidecar`) and the catalog's result columns (`columns`).

No other module lists these keys. This module imports nothing from gentui, so
every layer (catalog, backends, queue, analysis, tui) may use it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

FORMAT_VERSION = 2
"""`to_json` form version (1: the flat dict of gentui <= 0.1 job rows)."""

CHARACTER = "character"
SPEED = "speed"
ROLES = (CHARACTER, SPEED)


class ParamError(ValueError):
    """A parameter value that cannot be used; the message names it and says what is expected."""


# -- weights ------------------------------------------------------------------------
def normalize_weight(value: Any) -> float | None:
    """A LoRA weight as the number people typed: 0.6000000000000001 -> 0.6."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def format_weight(value: float | None) -> str:
    """The one way a weight is shown (tables, labels, file names): `0.6`, `1.0`, `none` without a LoRA."""
    w = normalize_weight(value)
    if w is None:
        return "none"
    text = f"{w:g}"
    return text if any(c in text for c in ".en") else text + ".0"


# -- the scalar fields ----------------------------------------------------------------
@dataclass(frozen=True)
class Scalar:
    """One scalar parameter: its type, where it is indexed, and the other names sidecars use for it."""

    name: str
    kind: type
    column: str | None = None
    """The result column it fills (None: sidecar only)."""
    aliases: tuple[str, ...] = ()
    """Other keys read from foreign sidecars (genserver, ComfyUI, mflux), tried in order."""
    settable: bool = True
    """May be given in a sweep's [params] or with --set."""

    def expected(self) -> str:
        return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.kind]


SCALARS: tuple[Scalar, ...] = (
    Scalar("workflow", str, "workflow"),
    Scalar("backend", str, "backend"),
    Scalar("checkpoint", str),
    Scalar("unet", str),
    Scalar("model", str, aliases=("ckpt_name", "unet_name")),
    Scalar("text_encoder", str),
    Scalar("vae", str),
    Scalar("seed", int, "seed"),
    Scalar("width", int, "width"),
    Scalar("height", int, "height"),
    Scalar("steps", int, "steps"),
    Scalar("cfg", float, "cfg", aliases=("cfg_scale", "guidance")),
    Scalar("sampler", str, "sampler", aliases=("sampler_name",)),
    Scalar("scheduler", str, "scheduler"),
    Scalar("prompt_src", str, "prompt_src", aliases=("text_ja",), settable=False),
    Scalar("prompt_en", str, "prompt_en", aliases=("prompt", "positive"), settable=False),
    Scalar("negative", str, "negative", aliases=("negative_prompt",)),
    Scalar("skip_translate", bool, "skip_translate"),
    Scalar("layout", str, "layout"),
    Scalar("variant", str, "variant", settable=False),
    Scalar("sweep", str, "sweep_name", settable=False),
)
SCALAR = {s.name: s for s in SCALARS}

LEGACY_LORA_KEYS = ("use_lora", "lora_name", "lora_strength", "use_speed_lora", "speed_lora_name",
                    "speed_lora_strength")
"""The single-LoRA keys (genserver sidecars, sweep files, workflow bindings); `loras` is what they mean."""

DERIVED_COLUMNS = ("model", "use_lora", "lora_name", "lora_strength", "use_speed_lora", "speed_lora_name",
                   "speed_lora_strength", "n_characters", "named")
"""Result columns computed from the parameters rather than copied from one field."""

COLUMNS: tuple[str, ...] = tuple(s.column for s in SCALARS if s.column) + DERIVED_COLUMNS
"""Every result column the parameters fill."""

SETTABLE: tuple[str, ...] = tuple(s.name for s in SCALARS if s.settable) + LEGACY_LORA_KEYS
"""Keys a sweep's [params] (and `--set`) take as such; any other key is a workflow extra."""

SETTING_KINDS: dict[str, type] = {**{s.name: s.kind for s in SCALARS if s.settable}, "use_lora": bool,
                                  "lora_name": str, "lora_strength": float, "use_speed_lora": bool,
                                  "speed_lora_name": str, "speed_lora_strength": float, "loras": list}
"""The type of every key a sweep's [params] takes as such (weights are floats)."""

NOT_SETTABLE = tuple(s.name for s in SCALARS if not s.settable) + ("characters", "extra", "translation")

FILLED_FROM_WORKFLOW = ("seed", "width", "height", "steps", "cfg", "sampler", "scheduler", "checkpoint", "unet",
                        "text_encoder", "vae", "negative", "lora_name", "lora_strength", "speed_lora_name",
                        "speed_lora_strength")
"""Parameters a workflow binding's defaults fill in when the sweep does not say."""

MODEL_KEYS = ("workflow", "checkpoint", "unet", "model", "text_encoder", "vae")
"""What, besides the LoRAs, decides which files a backend must have."""

HASH_EXCLUDED = ("prompt_en", "translation")
"""Made when the job runs (translation), so not part of its identity."""


# -- LoRAs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Lora:
    """One LoRA applied to a job: the file, its strengths, its role and the character it is for."""

    name: str
    """The file; empty when a foreign sidecar says a LoRA was used but not which."""
    strength_model: float | None
    """None only when read from a sidecar that did not record it."""
    strength_clip: float | None = None
    """None: the same as strength_model wherever the loader patches the text encoder too."""
    role: str = CHARACTER
    character: str | None = None
    """The prompt character (by name) this LoRA is meant for, when known."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ParamError(f"LoRA {self.name!r}: role {self.role!r}; expected one of {', '.join(ROLES)}")
        if self.strength_model is not None:
            w = normalize_weight(self.strength_model)
            if w is None:
                raise ParamError(f"LoRA {self.name!r}: strength {self.strength_model!r}: expected a finite number")
            object.__setattr__(self, "strength_model", w)
        if self.strength_clip is not None:
            object.__setattr__(self, "strength_clip", normalize_weight(self.strength_clip))

    @property
    def stem(self) -> str:
        """The file's name without folder and `.safetensors` (`kanachan-v4`)."""
        base = self.name.replace("\\", "/").rsplit("/", 1)[-1]
        return base[: -len(".safetensors")] if base.endswith(".safetensors") else base

    @property
    def key(self) -> str:
        """How axes, labels and queries name it: its character, else its file's stem (`weight.Kanachan`)."""
        return self.character or self.stem

    def answers_to(self, key: str) -> bool:
        """Does `weight.KEY` (or `lora:KEY`) mean this LoRA? Its character, its file or its stem, in any case."""
        k = key.casefold()
        return k in {self.stem.casefold(), self.name.casefold(), (self.character or "").casefold()} - {""}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "strength_model": self.strength_model, "strength_clip": self.strength_clip,
                "character": self.character, "role": self.role}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Lora:
        return cls(name=str(d.get("name") or ""), strength_model=d.get("strength_model"), strength_clip=d.get("strength_clip"),
                   role=str(d.get("role") or CHARACTER), character=d.get("character"))


# -- the type ---------------------------------------------------------------------------
@dataclass(frozen=True)
class JobParams:
    """What one job is asked to make; immutable, compared and hashed by value."""

    workflow: str | None = None
    backend: str | None = None
    """The backend the job must run on; None: any idle backend that has the models."""
    checkpoint: str | None = None
    unet: str | None = None
    model: str | None = None
    """The model when the backend names it neither checkpoint nor unet (mflux, foreign sidecars)."""
    text_encoder: str | None = None
    vae: str | None = None
    loras: tuple[Lora, ...] = ()
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    scheduler: str | None = None
    prompt_src: str | None = None
    prompt_en: str | None = None
    negative: str | None = None
    skip_translate: bool = False
    layout: str | None = None
    variant: str | None = None
    sweep: str | None = None
    characters: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Other parameters of the workflow binding (`--set denoise=0.9`)."""
    translation: Mapping[str, Any] | None = None
    """How prompt_en was made (models tried, rejections), once translated."""
    graph: Mapping[str, Any] | None = None
    """The exact API graph to send instead of binding a workflow (a rerun of a recorded result)."""
    rerun_of: Mapping[str, Any] | None = None
    """A rerun: the result it repeats ({result_id, path, sha256, nonce}); the nonce makes each rerun a new job."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "loras", tuple(self.loras))
        object.__setattr__(self, "characters", tuple(self.characters))
        if self.cfg is not None:
            object.__setattr__(self, "cfg", normalize_weight(self.cfg))
        speeds = [lo for lo in self.loras if lo.role == SPEED]
        if len(speeds) > 1:
            raise ParamError("a job has at most one speed LoRA")

    # -- the LoRA stack --------------------------------------------------------------
    @property
    def character_loras(self) -> tuple[Lora, ...]:
        return tuple(lo for lo in self.loras if lo.role == CHARACTER)

    @property
    def character_lora(self) -> Lora | None:
        """The character LoRA (the first one, when there are several)."""
        chars = self.character_loras
        return chars[0] if chars else None

    @property
    def speed_lora(self) -> Lora | None:
        return next((lo for lo in self.loras if lo.role == SPEED), None)

    @property
    def weight(self) -> float | None:
        """The character LoRA's strength; None when the job has no character LoRA."""
        lo = self.character_lora
        return lo.strength_model if lo else None

    @property
    def main_model(self) -> str | None:
        return self.checkpoint or self.unet or self.model

    @property
    def named(self) -> bool | None:
        """Every character named? (the named/unnamed variant says so directly)."""
        if self.variant in ("named", "unnamed"):
            return self.variant == "named"
        if not self.characters:
            return None
        return all(bool(c.get("name")) for c in self.characters)

    def with_(self, **changes: Any) -> JobParams:
        return replace(self, **changes)

    # -- identity --------------------------------------------------------------------
    def key_hash(self) -> str:
        """Identity of a cell: the hash of its resolved parameters (translation excluded)."""
        keyed = {k: v for k, v in self.to_json().items() if k not in HASH_EXCLUDED}
        return hashlib.sha256(canonical_json(keyed).encode("utf-8")).hexdigest()

    def weight_of(self, key: str) -> float | None:
        """The strength of the character LoRA `key` names (its character or file); None when it has none."""
        lo = next((x for x in self.character_loras if x.answers_to(key)), None)
        return lo.strength_model if lo else None

    def weight_label(self) -> str:
        """`w0.8` (one character LoRA), `wKanachan0.8+Reina0.6` (several), `wnone` (none)."""
        chars = self.character_loras
        if len(chars) <= 1:
            return f"w{format_weight(self.weight)}"
        return "w" + "+".join(f"{lo.key}{format_weight(lo.strength_model)}" for lo in chars)

    def label(self, cell: Mapping[str, Any] | None = None, variant_label: str | None = None) -> str:
        """`w0.8 s1293127692 named` plus the cell's other axis values.

        `variant_label`: the variant's short name (`named+notrigger`; the prompt module makes it).
        """
        parts = [self.weight_label(), f"s{self.seed}"]
        if self.variant:
            parts.append(variant_label or self.variant)
        for k, v in (cell or {}).items():
            if k in ("lora_strength", "seed", "variant") or k.startswith("weight."):
                continue
            parts.append(str(v) if k == "layout" else f"{k}={v}")
        return " ".join(parts)

    def model_signature(self) -> tuple[Any, ...]:
        """What a backend checks (models, LoRA files, workflow, extras): one check per distinct one."""
        return (tuple((k, getattr(self, k)) for k in MODEL_KEYS) + (("loras", tuple(lo.name for lo in self.loras)),)
                + (("extra", tuple(sorted((str(k), repr(v)) for k, v in self.extra.items()))),))

    def affinity(self, other: JobParams | None) -> int:
        """How much a server's caches can reuse going from `other` to this job (models, LoRAs, prompt, size)."""
        if other is None:
            return 0
        score = 0
        if all(getattr(self, k) == getattr(other, k) for k in MODEL_KEYS):
            score += 8
            prefix = next((i for i, (a, b) in enumerate(zip(self.loras, other.loras)) if a != b),
                          min(len(self.loras), len(other.loras)))
            score += 2 * prefix  # a chain of LoRA loaders is re-run from the first one that changed
            if self.loras == other.loras:
                score += 4  # no re-patch of the model at all
            if (self.prompt_en or self.prompt_src) == (other.prompt_en or other.prompt_src) and \
                    self.negative == other.negative and self.loras == other.loras:
                score += 2  # the text encoding is reused
        if (self.width, self.height) == (other.width, other.height):
            score += 1
        return score

    # -- the job row --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The job row's form (plain JSON data, every field, stable)."""
        out: dict[str, Any] = {"v": FORMAT_VERSION}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "loras":
                v = [lo.to_dict() for lo in v]
            elif f.name == "characters":
                v = [dict(c) for c in v]
            elif f.name in ("extra", "translation", "graph", "rerun_of") and v is not None:
                v = json.loads(json.dumps(v))
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> JobParams:
        """A job row's params: the current form, or the flat dict older gentui wrote (version 1)."""
        d = json.loads(data) if isinstance(data, str) else dict(data)
        if d.get("v") != FORMAT_VERSION:
            return cls.from_flat(d)
        kw = {f.name: d.get(f.name) for f in fields(cls) if f.name in d}
        kw["loras"] = tuple(Lora.from_dict(x) for x in d.get("loras") or [])
        kw["characters"] = tuple(d.get("characters") or ())
        kw["extra"] = dict(d.get("extra") or {})
        kw["skip_translate"] = bool(d.get("skip_translate"))
        return cls(**kw)

    @classmethod
    def from_flat(cls, d: Mapping[str, Any]) -> JobParams:
        """The flat single-LoRA form (sweep planning, gentui <= 0.1 job rows) -> the type.

        `use_lora = false`, or no `lora_name`, means no character LoRA; a speed
        LoRA exists only with `use_speed_lora` and a `speed_lora_name`.
        """
        kw: dict[str, Any] = {s.name: d.get(s.name) for s in SCALARS if d.get(s.name) is not None}
        kw["skip_translate"] = bool(d.get("skip_translate"))
        loras: list[Lora] = [Lora.from_dict(x) for x in d.get("loras") or []]
        if not any(lo.role == CHARACTER for lo in loras) and d.get("use_lora", True) is not False \
                and d.get("lora_name") and d.get("lora_strength") is not None:
            loras.insert(0, Lora(str(d["lora_name"]), d["lora_strength"], role=CHARACTER))
        if not any(lo.role == SPEED for lo in loras) and d.get("use_speed_lora") and d.get("speed_lora_name"):
            strength = d.get("speed_lora_strength")
            loras.append(Lora(str(d["speed_lora_name"]), 1.0 if strength is None else strength, role=SPEED))
        kw["loras"] = tuple(loras)
        kw["characters"] = tuple(d.get("characters") or ())
        kw["extra"] = dict(d.get("extra") or {})
        if d.get("translation") is not None:
            kw["translation"] = dict(d["translation"])
        if kw.get("backend") in ("any", ""):
            kw["backend"] = None
        return cls(**kw)

    # -- the workflow binding -------------------------------------------------------------
    def binding_values(self) -> dict[str, Any]:
        """The flat values a workflow binding (and the mflux command) takes, the LoRA switches included."""
        out: dict[str, Any] = {s.name: getattr(self, s.name) for s in SCALARS}
        lo, speed = self.character_lora, self.speed_lora
        out.update(use_lora=lo is not None, lora_name=lo.name if lo else None,
                   lora_strength=lo.strength_model if lo else None,
                   use_speed_lora=speed is not None, speed_lora_name=speed.name if speed else None,
                   speed_lora_strength=speed.strength_model if speed else None)
        out["character_loras"] = [x.to_dict() for x in self.character_loras]
        out["loras"] = [x.to_dict() for x in self.loras]
        out["extra"] = dict(self.extra)
        out["characters"] = [dict(c) for c in self.characters]
        return out

    # -- the sidecar ----------------------------------------------------------------------
    def sidecar_fields(self) -> dict[str, Any]:
        """The parameter keys of a sidecar: genserver's keys with their meanings, then gentui's."""
        lo, speed = self.character_lora, self.speed_lora
        translation = dict(self.translation) if self.translation else None
        return {
            # the seed's genserver keys, same names and meanings
            "model": self.main_model, "seed": self.seed, "width": self.width, "height": self.height,
            "steps": self.steps, "cfg": self.cfg, "use_lora": lo is not None,
            "lora_strength": lo.strength_model if lo else None, "use_speed_lora": speed is not None,
            "skip_translate": self.skip_translate, "prompt_en": self.prompt_en,
            # gentui's own
            "prompt_src": self.prompt_src, "negative": self.negative, "sampler": self.sampler,
            "scheduler": self.scheduler, "lora_name": (lo.name or None) if lo else None,
            "speed_lora_name": (speed.name or None) if speed else None,
            "speed_lora_strength": speed.strength_model if speed else None,
            "loras": [x.to_dict() for x in self.loras],
            "checkpoint": self.checkpoint, "unet": self.unet, "text_encoder": self.text_encoder, "vae": self.vae,
            "workflow": self.workflow, "translator_model": translation.get("model") if translation else None,
            "translation": translation, "layout": self.layout, "variant": self.variant,
            "characters": [dict(c) for c in self.characters],
            "n_characters": len(self.characters) if self.characters else None, "named": self.named,
            "sweep": self.sweep, "extra": dict(self.extra),
            **({"rerun_of": dict(self.rerun_of)} if self.rerun_of else {}),
        }

    @classmethod
    def from_sidecar(cls, data: Mapping[str, Any]) -> tuple[JobParams, list[str]]:
        """Read the parameters of any sidecar (gentui, genserver, ComfyUI or mflux-shaped); never raises.

        A value of the wrong type under its own key is reported in the problems
        and left out; under an alias it is ignored quietly (the key may mean
        something else there).
        """
        problems: list[str] = []
        kw: dict[str, Any] = {}
        for s in SCALARS:
            found = _lookup(data, s.name, s.aliases)
            if found is None:
                continue
            key, value, alias = found
            try:
                kw[s.name] = coerce(s.kind, value, s.name)
            except TypeError as e:
                if not alias:
                    problems.append(f"{key}: expected {s.expected()}, got {e}; ignored")
        if isinstance(data.get("sweep"), Mapping) and isinstance(data["sweep"].get("name"), str):
            kw["sweep"] = data["sweep"]["name"]
        kw.pop("skip_translate", None) if kw.get("skip_translate") is None else None
        if "model" in kw and (data.get("checkpoint") or data.get("unet")):
            kw.pop("model")  # gentui's own `model` repeats checkpoint/unet
        loras, lora_problems = _loras_from_sidecar(data)
        problems += lora_problems
        kw["loras"] = tuple(loras)
        chars = data.get("characters")
        if isinstance(chars, list):
            kw["characters"] = tuple(c for c in chars if isinstance(c, Mapping))
        if isinstance(data.get("extra"), Mapping):
            kw["extra"] = dict(data["extra"])
        if isinstance(data.get("translation"), Mapping):
            kw["translation"] = dict(data["translation"])
        if isinstance(data.get("rerun_of"), Mapping):
            kw["rerun_of"] = dict(data["rerun_of"])
        try:
            return cls(**kw), problems
        except ParamError as e:
            problems.append(f"loras: {e}; ignored")
            return cls(**{**kw, "loras": tuple(lo for lo in kw["loras"] if lo.role == CHARACTER)}), problems

    # -- the catalog ------------------------------------------------------------------------
    def columns(self) -> dict[str, Any]:
        """The result columns these parameters fill (None where they have nothing to say)."""
        out = {s.column: getattr(self, s.name) for s in SCALARS if s.column}
        lo, speed = self.character_lora, self.speed_lora
        out.update(model=self.main_model, use_lora=lo is not None, lora_name=(lo.name or None) if lo else None,
                   lora_strength=lo.strength_model if lo else None, use_speed_lora=speed is not None,
                   speed_lora_name=(speed.name or None) if speed else None,
                   speed_lora_strength=speed.strength_model if speed else None,
                   n_characters=len(self.characters) or None, named=self.named)
        return out


# -- helpers ---------------------------------------------------------------------------------
def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", ""}
SQLITE_INT_MAX = 2**63 - 1


def kind_of(v: Any) -> str:
    """A value's kind in words, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, str):
        return f"text {v[:40]!r}"
    if isinstance(v, (dict, list)):
        return "an object" if isinstance(v, dict) else "a list"
    return type(v).__name__


def coerce(kind: type, v: Any, key: str = "") -> Any:
    """A sidecar value as `kind`, tolerating text numbers and booleans; TypeError says what it was."""
    if kind is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        raise TypeError(kind_of(v))
    if kind is int:
        if isinstance(v, bool):
            raise TypeError("a boolean")
        if isinstance(v, int):
            n = v
        elif isinstance(v, float) and math.isfinite(v) and v == int(v):
            n = int(v)
        elif isinstance(v, str) and v.strip().lstrip("+-").isdigit() and len(v) < 40:
            n = int(v.strip())
        else:
            raise TypeError(kind_of(v))
        if abs(n) > SQLITE_INT_MAX:
            raise TypeError(f"{n} (outside the 64-bit range the catalog stores)")
        return n
    if kind is float:
        if isinstance(v, bool):
            raise TypeError("a boolean")
        if isinstance(v, (int, float)):
            try:
                f = float(v)
            except OverflowError:
                raise TypeError("a number too large") from None
        elif isinstance(v, str) and len(v) < 64:
            try:
                f = float(v)
            except ValueError:
                raise TypeError(f"text {v!r}") from None
        else:
            raise TypeError(kind_of(v))
        if not math.isfinite(f):
            raise TypeError(f"{f} (not a finite number)")
        return f
    if isinstance(v, str):
        return clean_text(v)
    if key in ("prompt_en", "prompt_src") and isinstance(v, (dict, list)):
        return clean_text(json.dumps(v, ensure_ascii=False))
    if isinstance(v, (int, float)) and not isinstance(v, bool) and key not in ("prompt_en", "prompt_src", "negative"):
        return str(v)
    raise TypeError(kind_of(v))


def clean_text(s: str) -> str:
    """Text SQLite can store: lone surrogates (from JSON `\\ud800` escapes) become U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


def _lookup(data: Mapping[str, Any], key: str, aliases: Iterable[str]) -> tuple[str, Any, bool] | None:
    v = data.get(key)
    if v is not None:
        return key, v, False
    for alias in aliases:
        v = data.get(alias)
        if v is not None:
            return alias, v, True
    return None


def _loras_from_sidecar(data: Mapping[str, Any]) -> tuple[list[Lora], list[str]]:
    """The `loras` list when there is one, else the single-LoRA keys (genserver, older gentui)."""
    problems: list[str] = []
    raw = data.get("loras")
    if isinstance(raw, list) and raw:
        out = []
        for i, item in enumerate(raw):
            try:
                if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                    raise TypeError(kind_of(item))
                strength = coerce(float, item.get("strength_model", item.get("strength")))
                clip = item.get("strength_clip")
                role = item.get("role", item.get("kind"))  # `kind`: the ComfyUI PNG reader's name for it
                out.append(Lora(clean_text(item["name"]), strength,
                                None if clip is None else coerce(float, clip),
                                role=role if role in ROLES else CHARACTER,
                                character=item.get("character") if isinstance(item.get("character"), str) else None))
            except (TypeError, ParamError) as e:
                problems.append(f"loras.{i}: expected {{name, strength_model, ...}}, got {e}; ignored")
        return out, problems
    if raw is not None and not isinstance(raw, list):
        problems.append(f"loras: expected a list, got {kind_of(raw)}; ignored")
    out = []
    flags = {}
    for key in ("use_lora", "use_speed_lora"):
        if data.get(key) is not None:
            try:
                flags[key] = coerce(bool, data[key])
            except TypeError as e:
                problems.append(f"{key}: expected true or false, got {e}; ignored")
    strengths = {}
    for key in ("lora_strength", "speed_lora_strength"):
        if data.get(key) is not None:
            try:
                strengths[key] = normalize_weight(coerce(float, data[key]))
            except TypeError as e:
                problems.append(f"{key}: expected a number, got {e}; ignored")
    name = data.get("lora_name") if isinstance(data.get("lora_name"), str) else None
    # genserver: `use_lora` true with a strength and no file name still means "the LoRA was on".
    if flags.get("use_lora", True) is not False and (
            flags.get("use_lora") or (name and strengths.get("lora_strength") is not None)
            or (strengths.get("lora_strength") is not None and "use_lora" not in flags)):
        out.append(Lora(clean_text(name or ""), strengths.get("lora_strength")))
    speed_name = data.get("speed_lora_name") if isinstance(data.get("speed_lora_name"), str) else None
    if flags.get("use_speed_lora"):
        out.append(Lora(clean_text(speed_name or ""), strengths.get("speed_lora_strength"), role=SPEED))
    return out, problems
