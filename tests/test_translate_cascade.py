"""The Ollama translation cascade against a stand-in Ollama server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from fake_ollama import FakeOllama, Script, closed_port_url
from ollama import Client

from gentui.catalog.db import open_catalog
from gentui.config import TranslateSettings
from gentui.prompt.translate import (
    INSTRUCTION_VERSION,
    OllamaUnavailable,
    TranslationFailed,
    Translator,
    list_pulled_models,
    missing_models,
)

JA = "2人の女の子、シンプルな背景、並んで立つ。左の女の子は栗色の髪のサイドポニーテール。"
EN = "2girls, simple background, standing side by side. The left girl has chestnut hair in a side ponytail."


@pytest.fixture
def fake():
    servers = []

    def start(models):
        server = FakeOllama(models)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def settings_for(url, models, timeout_s=5.0):
    return TranslateSettings(host=url, models=models, timeout_s=timeout_s, seed=7)


def test_first_good_model_wins_with_temperature_zero_and_the_seed(fake):
    server = fake({"llm-jp:4-8b-fixed": Script(EN), "gemma3:12b": Script("unused")})
    t = Translator(settings_for(server.url, ["llm-jp:4-8b-fixed", "gemma3:12b"])).translate(JA)
    assert (t.text, t.model, t.rejected, t.cached) == (EN, "llm-jp:4-8b-fixed", [], False)
    (req,) = server.chat_requests()
    assert req["options"] == {"temperature": 0, "seed": 7} and req["stream"] is True
    assert req["messages"][0]["role"] == "system" and "English" in req["messages"][0]["content"]
    assert req["messages"][1] == {"role": "user", "content": JA}
    assert t.to_sidecar() == {"model": "llm-jp:4-8b-fixed", "rejected": [], "cached": False,
                              "instruction_version": INSTRUCTION_VERSION}


def test_every_kind_of_bad_reply_falls_through_in_order(fake):
    server = fake({
        "refuser": Script("Sorry, I can't help with that request."),
        "ja-refuser": Script("申し訳ありませんが、その依頼にはお応えできません。"),
        "echo": Script(JA),
        "empty": Script("   "),
        "broken": Script("two girls", stream_error="llama runner process has terminated"),
        "good": Script(EN),
    })
    cascade = ["missing:7b", "refuser", "ja-refuser", "echo", "empty", "broken", "good"]
    t = Translator(settings_for(server.url, cascade)).translate(JA)
    assert t.model == "good" and t.text == EN
    reasons = {r["model"]: r["reason"] for r in t.rejected}
    assert [r["model"] for r in t.rejected] == cascade[:-1]
    assert "not found" in reasons["missing:7b"] and "ollama pull missing:7b" in reasons["missing:7b"]
    assert reasons["refuser"].startswith("refusal") and reasons["ja-refuser"].startswith("refusal")
    assert reasons["echo"].startswith("still Japanese")
    assert reasons["empty"] == "empty reply"
    assert "llama runner process has terminated" in reasons["broken"]


def test_a_slow_model_times_out_and_the_next_answers(fake):
    server = fake({"slow": Script(EN, delay_s=3.0), "fast": Script(EN)})
    t = Translator(settings_for(server.url, ["slow", "fast"], timeout_s=0.3)).translate(JA)
    assert t.model == "fast"
    assert t.rejected == [{"model": "slow", "reason": "timed out after 0.3 s"}]


def test_server_down_stops_at_once_and_says_where_it_looked():
    url = closed_port_url()
    with pytest.raises(TranslationFailed) as exc:
        Translator(settings_for(url, ["a", "b"])).translate(JA)
    e = exc.value
    assert e.unreachable and [r["model"] for r in e.rejected] == ["a"]
    assert url in str(e) and "[translate] host" in str(e) and "kept" in str(e)


def test_ollama_host_is_honoured_and_named_in_errors(fake, monkeypatch):
    server = fake({"good": Script(EN)})
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    assert Translator(TranslateSettings(models=["good"])).translate(JA).model == "good"
    monkeypatch.setenv("OLLAMA_HOST", closed_port_url())
    with pytest.raises(TranslationFailed, match="from OLLAMA_HOST"):
        Translator(TranslateSettings(models=["good"])).translate(JA)


def test_every_model_refusing_lists_each_reason(fake):
    server = fake({"a": Script("I cannot assist with this."), "b": Script("As an AI, I won't do that.")})
    with pytest.raises(TranslationFailed) as exc:
        Translator(settings_for(server.url, ["a", "b"])).translate(JA)
    assert [r["model"] for r in exc.value.rejected] == ["a", "b"]
    assert "a: refusal" in str(exc.value) and "b: refusal" in str(exc.value)
    assert not exc.value.unreachable


def test_cache_hits_make_no_request_and_follow_the_cascade_order(fake, tmp_path):
    catalog = open_catalog(tmp_path / "catalog.db")
    server = fake({"a": Script("Sorry, I can't."), "b": Script(EN)})
    tr = Translator(settings_for(server.url, ["a", "b"]), catalog)
    first = tr.translate(JA)
    assert first.model == "b" and not first.cached
    asked = len(server.chat_requests())
    again = tr.translate(JA)
    assert (again.text, again.model, again.cached) == (EN, "b", True)
    assert len(server.chat_requests()) == asked
    server.models["b"] = Script("A different English text.")
    fresh = tr.translate(JA, use_cache=False)
    assert fresh.text == "A different English text." and len(server.chat_requests()) == asked + 2
    assert tr.translate(JA).text == EN  # --no-cache neither read nor overwrote the cache
    catalog.close()


def test_text_without_japanese_or_with_skip_is_sent_as_it_is(fake):
    server = fake({"a": Script(EN)})
    tr = Translator(settings_for(server.url, ["a"]))
    plain = tr.translate("2girls, simple background")
    assert plain.text == "2girls, simple background" and plain.model is None and plain.skipped == "no Japanese"
    skipped = tr.translate(JA, skip=True)
    assert skipped.text == JA and skipped.skipped == "skip_translate"
    assert skipped.to_sidecar()["skipped"] == "skip_translate"
    assert server.chat_requests() == []


def test_json_prompt_must_come_back_with_the_same_keys(fake):
    src = {"scene": "2人の女の子", "left_character": {"name": "かなちゃん", "appearance": "栗色の髪"}, "rule": "混ぜない"}
    good = {"rule": "Do not mix.", "left_character": {"appearance": "chestnut hair", "name": "Kanachan"},
            "scene": "2girls"}
    server = fake({
        "renamer": Script(json.dumps({"scene": "2girls", "left": {"name": "Kanachan"}, "rule": "Do not mix."})),
        "chatty": Script("Here is the translation: scene is 2girls."),
        "good": Script("```json\n" + json.dumps(good) + "\n```"),
    })
    t = Translator(settings_for(server.url, ["renamer", "chatty", "good"])).translate(json.dumps(src, ensure_ascii=False))
    assert t.model == "good"
    assert list(json.loads(t.text)) == ["scene", "left_character", "rule"]
    assert json.loads(t.text)["left_character"] == {"name": "Kanachan", "appearance": "chestnut hair"}
    reasons = [r["reason"] for r in t.rejected]
    assert reasons[0].startswith("JSON keys differ at the top level") and "'left_character'" in reasons[0]
    assert reasons[1] == "not valid JSON"
    assert all(req["format"] == "json" for req in server.chat_requests())


def test_not_streamed_answers_work_too(fake):
    server = fake({"a": Script(EN)})
    t = Translator(settings_for(server.url, ["a"]), stream=False).translate(JA)
    assert t.text == EN and server.chat_requests()[0]["stream"] is False


def test_pulled_models_for_doctor(fake):
    server = fake({"gemma3:12b": Script(), "llm-jp:4-8b-fixed": Script(), "qwen3:latest": Script()})
    pulled = list_pulled_models(settings_for(server.url, []))
    assert sorted(pulled) == ["gemma3:12b", "llm-jp:4-8b-fixed", "qwen3:latest"]
    assert missing_models(["llm-jp:4-8b-fixed", "gemma3:12b", "qwen3", "qwen3.6:35b"], pulled) == ["qwen3.6:35b"]
    with pytest.raises(OllamaUnavailable, match="not reachable"):
        list_pulled_models(settings_for(closed_port_url(), []), timeout_s=1)


def test_the_stand_in_speaks_generate_in_both_shapes(fake):
    server = fake({"a": Script("two girls side by side")})
    with Client(host=server.url, timeout=5) as client:
        assert client.generate(model="a", prompt="x", stream=False).response == "two girls side by side"
        parts = list(client.generate(model="a", prompt="x", stream=True))
        assert "".join(p.response for p in parts) == "two girls side by side"
        assert [p.done for p in parts][-1] is True and not any(p.done for p in parts[:-1])
