"""Ask an Ollama vision model which of a character's features it sees, where, and in what colour.

One request per character slot, with the picture (scaled down to `max_side`)
and a JSON schema as Ollama's structured-output `format`, at temperature 0
with a fixed seed. The features asked about are those already judged for that
character in the catalog (by name), then the phrases of its appearance in the
prompt. Each answer becomes suggestions (see `gentui.catalog.suggestions`):

- seen on this character only -> `present` (or `color_drift` when the feature
  names a colour and the model saw another one)
- seen on this character and others -> `duplicated` to those slots
- seen only on others -> `migrated` to those slots
- seen nowhere -> `missing`

A time-out, a refusal, an Ollama error or a reply that is not JSON of the
schema is recorded as a failed attempt and skipped, as the translation
cascade does; Ollama not answering at all stops the run (`OllamaUnavailable`).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from ollama import Client, ResponseError
from PIL import Image, UnidentifiedImageError

from gentui.catalog.suggestions import failed_attempt, new_suggestion
from gentui.config import Settings
from gentui.prompt.refusal import refusal_phrase

CONNECT_TIMEOUT_S = 5.0
MAX_FEATURES = 12
_SPLIT = re.compile(r",|;|\band\b|\bwith\b", re.IGNORECASE)


class OllamaUnavailable(Exception):
    """Ollama did not answer at the configured host; the message says where gentui looked."""


class SuggestionsOff(Exception):
    """No vision model is configured ([suggest] model)."""


@dataclass
class CharacterInfo:
    slot: str
    name: str | None
    appearance: str | None


def feature_slug(phrase: str) -> str:
    """`a yellow scrunchie` -> `yellow_scrunchie` (the feature names annotations use)."""
    words = [w for w in re.findall(r"[a-z0-9]+", phrase.lower()) if w not in ("a", "an", "the", "her", "his")]
    return "_".join(words)[:48]


def appearance_features(appearance: str | None) -> list[str]:
    return [s for s in (feature_slug(p) for p in _SPLIT.split(appearance or "")) if s]


def judged_features(catalog: Any, name: str | None) -> list[str]:
    """Features the user has judged for characters of this name, most often first."""
    if not name:
        return []
    from sqlalchemy import func, select

    from gentui.catalog.models import Annotation, Character

    stmt = (select(Annotation.feature, func.count()).join(Character, (Character.result_id == Annotation.result_id)
                                                         & (Character.slot == Annotation.slot))
            .where(func.lower(Character.name) == name.lower(), Annotation.author == "user", Annotation.feature != "")
            .group_by(Annotation.feature).order_by(func.count().desc()).limit(MAX_FEATURES))
    with catalog.engine.connect() as conn:
        return [row[0] for row in conn.execute(stmt)]


def features_for(catalog: Any, char: CharacterInfo) -> list[str]:
    seen: list[str] = []
    for f in judged_features(catalog, char.name) + appearance_features(char.appearance):
        if f not in seen:
            seen.append(f)
    return seen[:MAX_FEATURES]


def reply_schema(features: list[str], other_slots: list[str]) -> dict[str, Any]:
    """The JSON schema given to Ollama as `format`."""
    also: dict[str, Any] = {"type": "array", "items": {"type": "string", "enum": other_slots}} if other_slots \
        else {"type": "array", "maxItems": 0}
    return {"type": "object", "required": ["features"], "properties": {"features": {
        "type": "array", "items": {"type": "object", "required": ["feature", "on_this_character", "also_on", "color"],
                                   "properties": {"feature": {"type": "string", "enum": features},
                                                  "on_this_character": {"type": "boolean"},
                                                  "also_on": also,
                                                  "color": {"type": "string"}}}}}}


def _prompt(char: CharacterInfo, chars: list[CharacterInfo], features: list[str]) -> str:
    cast = "; ".join(f"{c.slot}: {c.name or 'unnamed'}" + (f" ({c.appearance})" if c.appearance else "")
                     for c in chars)
    return (f"The picture shows {len(chars)} character(s) from left to right: {cast}. "
            f"Look at the character on the {char.slot} ({char.name or 'unnamed'}). For each of these features: "
            f"{', '.join(features)} - say whether you see it on that character (on_this_character), on which "
            "other characters you see it (also_on, by their position), and its colour as you see it (one or two "
            "plain words, empty if it has none). Judge only what is visible. Answer with JSON only.")


def _colour_words(feature: str) -> set[str]:
    from gentui.analysis.colour_names import XKCD

    words = set(feature.split("_"))
    names = {n for n, _ in XKCD if " " not in n}
    return words & names


def interpret(reply: Any, slot: str, features: list[str], others: list[str], author: str) -> list[dict[str, Any]]:
    """Suggestions from a parsed reply; ValueError says how it does not fit the schema."""
    if not isinstance(reply, dict) or not isinstance(reply.get("features"), list):
        raise ValueError("no `features` list")
    out = []
    for item in reply["features"]:
        if not isinstance(item, dict) or item.get("feature") not in features:
            raise ValueError(f"an item that is not one of the features asked: {str(item)[:80]}")
        here = item.get("on_this_character")
        also = item.get("also_on") or []
        if not isinstance(here, bool) or not isinstance(also, list) or any(a not in others for a in also):
            raise ValueError(f"bad on_this_character/also_on in {str(item)[:80]}")
        colour = str(item.get("color") or "").strip().lower() or None
        feature = item["feature"]
        target = ",".join(dict.fromkeys(also)) or None
        if here and target:
            outcome = "duplicated"
        elif target:
            outcome = "migrated"
        elif here:
            expected = _colour_words(feature)
            outcome = "color_drift" if expected and colour and not (expected & set(colour.split())) else "present"
        else:
            outcome, colour = "missing", None
        out.append(new_suggestion(slot, feature, outcome, author, target=target, color=colour))
    return out


class Suggester:
    """Asks the configured vision model; one object per run."""

    def __init__(self, settings: Settings):
        cfg = settings.suggest
        if not cfg.model:
            raise SuggestionsOff("suggestions are off: set [suggest] model to an Ollama vision model "
                                 "(e.g. qwen2.5vl:7b) in the config file")
        self.cfg = cfg
        self.host = cfg.host or settings.translate.resolved_host()

    def picture(self, path: str) -> bytes:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((self.cfg.max_side, self.cfg.max_side), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, format="PNG")
                return buf.getvalue()
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the image ({getattr(e, 'strerror', None) or e})") from None

    def ask_result(self, catalog: Any, path: str, chars: list[CharacterInfo]) -> list[dict[str, Any]]:
        """Suggestions and failed attempts for every character of one picture."""
        image = self.picture(path)
        out: list[dict[str, Any]] = []
        for char in chars or [CharacterInfo("image", None, None)]:
            features = features_for(catalog, char)
            if not features:
                out.append(failed_attempt(char.slot, self.cfg.model, "no features to ask about: the prompt gives "
                                          "no appearance and nothing was judged for this character yet"))
                continue
            others = [c.slot for c in chars if c.slot != char.slot]
            out += self.ask_slot(image, char, chars, features, others)
        return out

    def ask_slot(self, image: bytes, char: CharacterInfo, chars: list[CharacterInfo], features: list[str],
                 others: list[str]) -> list[dict[str, Any]]:
        model = self.cfg.model
        messages = [{"role": "user", "content": _prompt(char, chars, features), "images": [image]}]
        t = self.cfg.timeout_s
        try:
            with Client(host=self.host, timeout=httpx.Timeout(t, connect=min(t, CONNECT_TIMEOUT_S))) as client:
                resp = client.chat(model=model, messages=messages, stream=False,
                                   format=reply_schema(features, others),
                                   options={"temperature": 0, "seed": self.cfg.seed})
            text = resp.message.content or ""
        except ResponseError as e:
            why = f"model not found (run `ollama pull {model}`)" if e.status_code == 404 else \
                f"Ollama error {e.status_code}: {e.error}"
            return [failed_attempt(char.slot, model, why)]
        except (ConnectionError, httpx.ConnectError) as e:
            raise OllamaUnavailable(f"Ollama is not reachable at {self.host}: {_short(e)}; start it with "
                                    "`ollama serve` or set [suggest] host") from None
        except (httpx.TimeoutException, TimeoutError):
            return [failed_attempt(char.slot, model, f"timed out after {t:g} s")]
        except (httpx.HTTPError, ValueError) as e:
            return [failed_attempt(char.slot, model, f"bad reply from Ollama: {_short(e)}")]
        refused = refusal_phrase(text)
        try:
            parsed = json.loads(text)
        except ValueError:
            why = f"refused ({refused!r})" if refused else f"malformed JSON: {text[:80]!r}"
            return [failed_attempt(char.slot, model, why)]
        try:
            return interpret(parsed, char.slot, features, others, model)
        except ValueError as e:
            return [failed_attempt(char.slot, model, f"reply does not fit the schema: {e}")]


def _short(e: BaseException) -> str:
    return (str(e) or type(e).__name__).splitlines()[0][:200]


def summarize(entries: list[dict[str, Any]]) -> str:
    c = Counter(e["state"] for e in entries)
    return ", ".join(f"{n} {state}" for state, n in sorted(c.items())) or "nothing"
