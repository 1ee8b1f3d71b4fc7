"""Suggested annotations from a vision model: the Ollama stand-in on 127.0.0.1 takes the pictures.

Suggestions are kept apart from the user's annotations, accepted or rejected
one at a time or in bulk, recorded with their model as author, survive a
catalog rebuild from the sidecars, and failures (time-out, refusal, malformed
JSON) are recorded and skipped.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from PIL import Image
from sqlmodel import select

from gentui.analysis.suggest import CharacterInfo, OllamaUnavailable, Suggester, SuggestionsOff
from gentui.catalog.annotations import add_annotation
from gentui.catalog.models import Annotation, Character, Result
from gentui.catalog.suggestions import add_suggestions, decide, decide_all, load_suggestions
from gentui.config import settings_from_dict
from tests.fake_ollama import FakeOllama, Script, closed_port_url
from tests.tui_helpers import make_settings, populate

MODEL = "qwen2.5vl:7b"


def vision_reply(body):
    """Answers like a vision model would: about the slot the prompt names, within the schema given."""
    prompt = body["messages"][0]["content"]
    schema = body["format"]
    features = schema["properties"]["features"]["items"]["properties"]["feature"]["enum"]
    if "on the left" in prompt:
        items = [{"feature": f, "on_this_character": f != "ahoge", "also_on": ["right"] if f == "ahoge" else [],
                  "color": "orange" if "scrunchie" in f else ""} for f in features]
    else:
        items = [{"feature": f, "on_this_character": False, "also_on": [], "color": ""} for f in features]
    return json.dumps({"features": items})


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path / "home")
    catalog = populate(settings, layouts=("side_by_side",))
    with catalog.session() as s:
        for c in s.exec(select(Character)):
            c.appearance = "side ponytail with a yellow scrunchie, ahoge" if c.slot == "left" else "long black hair"
            s.add(c)
        s.commit()
    fake = FakeOllama({MODEL: Script(vision_reply)})
    settings.suggest.model = MODEL
    settings.suggest.host = fake.url
    yield settings, catalog, fake
    fake.stop()
    catalog.close()


def _chars(catalog, rid):
    with catalog.session() as s:
        return [CharacterInfo(c.slot, c.name, c.appearance)
                for c in s.exec(select(Character).where(Character.result_id == rid).order_by(Character.idx))]


def _path(catalog, rid):
    with catalog.session() as s:
        return s.get(Result, rid).path


def test_the_model_gets_the_picture_and_a_schema_and_answers_become_suggestions(env):
    settings, catalog, fake = env
    add_annotation(catalog, 2, "left", "side_ponytail", "present")  # judged before: asked about first
    entries = Suggester(settings).ask_result(catalog, _path(catalog, 1), _chars(catalog, 1))
    chats = fake.chat_requests()
    assert len(chats) == 2 and all(len(c["messages"][0]["images"]) == 1 for c in chats)
    with Image.open(io.BytesIO(fake.images[0])) as im:
        assert im.size == (96, 64)  # the picture itself (smaller than max_side)
    asked = [c["format"]["properties"]["features"]["items"]["properties"] for c in chats]
    assert asked[0]["feature"]["enum"] == ["side_ponytail", "yellow_scrunchie", "ahoge"]  # judged first, no repeats
    assert asked[0]["also_on"]["items"]["enum"] == ["right"] and asked[1]["feature"]["enum"] == ["long_black_hair"]
    assert chats[0]["options"] == {"temperature": 0, "seed": 42} and chats[0]["stream"] is False
    got = {(e["slot"], e["feature"]): (e["outcome"], e["target"], e["color"]) for e in entries}
    assert got[("left", "side_ponytail")] == ("present", None, None)
    assert got[("left", "yellow_scrunchie")] == ("color_drift", None, "orange")
    assert got[("left", "ahoge")] == ("migrated", "right", None)
    assert got[("right", "long_black_hair")] == ("missing", None, None)
    assert all(e["author"] == MODEL and e["state"] == "pending" for e in entries)


def test_accept_reject_never_touch_the_users_annotations_and_survive_a_rebuild(env, tmp_path):
    settings, catalog, _fake = env
    mine = add_annotation(catalog, 1, "left", "ahoge", "present")
    add_suggestions(catalog, 1, Suggester(settings).ask_result(catalog, _path(catalog, 1), _chars(catalog, 1)))
    with catalog.session() as s:  # suggestions are not judgements until accepted
        assert [a.id for a in s.exec(select(Annotation).where(Annotation.result_id == 1))] == [mine]
    items = {s["feature"]: s for s in load_suggestions(catalog, 1)}
    aid = decide(catalog, 1, items["ahoge"]["id"], accept=True)
    decide(catalog, 1, items["yellow_scrunchie"]["id"], accept=False)
    with pytest.raises(Exception, match="already accepted"):
        decide(catalog, 1, items["ahoge"]["id"], accept=True)
    with catalog.session() as s:
        anns = {a.id: a for a in s.exec(select(Annotation).where(Annotation.result_id == 1))}
    assert (anns[mine].outcome, anns[mine].author) == ("present", "user")  # untouched
    assert (anns[aid].outcome, anns[aid].target, anns[aid].author) == ("migrated", "right", MODEL)
    states = {s["feature"]: s["state"] for s in load_suggestions(catalog, 1)}
    assert states["ahoge"] == "accepted" and states["yellow_scrunchie"] == "rejected"
    assert states["side_ponytail"] == "pending"
    # a catalog rebuilt from the sidecars keeps the accepted one (by its model) and every suggestion's state
    from gentui.catalog.db import open_catalog
    from gentui.catalog.importer import import_paths

    fresh = open_catalog(tmp_path / "rebuilt.db")
    import_paths(fresh, [settings.output_dir], None)
    with fresh.session() as s:
        rid = s.exec(select(Result.id).where(Result.path == _path(catalog, 1))).one()
        authors = sorted((a.feature, a.author) for a in s.exec(select(Annotation).where(Annotation.result_id == rid)))
    assert authors == [("ahoge", MODEL), ("ahoge", "user")]
    assert {s["feature"]: s["state"] for s in load_suggestions(fresh, rid)} == states
    fresh.close()


def test_timeouts_refusals_and_malformed_json_are_recorded_and_skipped(env):
    settings, catalog, fake = env
    chars = _chars(catalog, 1)
    for reply, why in [("I'm sorry, but I can't help with that.", "refused"), ("{features: [", "malformed JSON"),
                       (json.dumps({"features": [{"feature": "wings"}]}), "does not fit the schema")]:
        fake.models[MODEL] = Script(reply)
        entries = Suggester(settings).ask_result(catalog, _path(catalog, 1), chars)
        assert [e["state"] for e in entries] == ["failed", "failed"]
        assert why in entries[0]["error"]
    fake.models[MODEL] = Script(vision_reply, delay_s=5)
    settings.suggest.timeout_s = 0.3
    entries = Suggester(settings).ask_result(catalog, _path(catalog, 1), chars)
    assert entries[0]["error"] == "timed out after 0.3 s"
    fake.models.clear()
    assert "ollama pull" in Suggester(settings).ask_result(catalog, _path(catalog, 1), chars)[0]["error"]
    settings.suggest.host = closed_port_url()
    with pytest.raises(OllamaUnavailable, match="not reachable"):
        Suggester(settings).ask_result(catalog, _path(catalog, 1), chars)
    with pytest.raises(SuggestionsOff, match=r"\[suggest\] model"):
        Suggester(settings_from_dict({}))


def test_the_stand_in_refuses_what_real_ollama_refuses(env):
    import httpx

    _settings, _catalog, fake = env
    r = httpx.post(fake.url + "/api/chat", json={"model": MODEL, "stream": False,
                                                 "messages": [{"role": "user", "content": "x", "images": ["%%%"]}]})
    assert r.status_code == 400 and r.json()["error"].startswith("illegal base64 data at input byte 0")


def test_suggest_cli_asks_lists_and_decides_in_bulk(env, tmp_path):
    settings, catalog, fake = env
    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\ndata_dir = "{settings.data_dir}"\n[suggest]\nmodel = "{MODEL}"\n'
                      f'host = "{fake.url}"\n')

    def gentui(*args):
        return subprocess.run([sys.executable, "-m", "gentui.cli", "--config", str(config), "suggest", *args],
                              capture_output=True, text=True, timeout=60)

    p = gentui("sweep:kana-2girls w:0.4,0.6")
    assert p.returncode == 0, p.stderr
    assert "asked qwen2.5vl:7b about 4 result(s)" in p.stderr
    assert gentui("sweep:kana-2girls w:0.4,0.6").stderr.count("about 0 result(s)") == 1  # not asked twice
    listed = gentui("w:0.4", "--list").stdout.splitlines()
    assert len(listed) == 2 * 4 and all(line.startswith("#") for line in listed)
    assert "ahoge migrated -> right" in "\n".join(listed)
    p = gentui("w:0.4", "--accept")
    assert "8 suggestion(s) accepted" in p.stderr
    with catalog.session() as s:
        assert len(list(s.exec(select(Annotation).where(Annotation.author == MODEL)))) == 8
    assert "8 suggestion(s) rejected" in gentui("w:0.6", "--reject").stderr
    assert decide_all(catalog, 1, accept=True) == 0
    off = tmp_path / "off.toml"
    off.write_text(f'[paths]\ndata_dir = "{settings.data_dir}"\n')
    p = subprocess.run([sys.executable, "-m", "gentui.cli", "--config", str(off), "suggest", "w:0.8"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "suggestions are off" in p.stderr
