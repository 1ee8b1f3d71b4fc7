"""The preview names each character's colours and shows suggestions apart; y / n decide them."""

from __future__ import annotations

from PIL import Image, ImageDraw
from sqlmodel import select

from gentui.catalog.models import Annotation, Result
from gentui.catalog.suggestions import add_suggestions, load_suggestions, new_suggestion
from gentui.tui.widgets.preview import Preview
from tests.tui_helpers import make_app, make_settings, populate, screen_text, wait_for


async def test_preview_colours_and_suggestions_with_one_key_each(tmp_path):
    settings = make_settings(tmp_path / "home")
    catalog = populate(settings)
    with catalog.session() as s:
        path = s.get(Result, 20).path
    im = Image.new("RGB", (96, 64), (0x01, 0x15, 0x3e))  # navy right half
    ImageDraw.Draw(im).rectangle((0, 0, 47, 63), fill=(0x74, 0x28, 0x02))  # chestnut left half
    im.save(path)
    add_suggestions(catalog, 20, [new_suggestion("left", "ahoge", "migrated", "qwen2.5vl:7b", target="right"),
                                  new_suggestion("right", "hair_color", "present", "qwen2.5vl:7b")])
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        preview = app.screen.query_one(Preview)
        await wait_for(pilot, lambda: preview.details is not None and preview.details.id == 20)
        await wait_for(pilot, lambda: "colours" in screen_text(app), what="colour readout")
        text = screen_text(app)
        assert "left: chestnut 100%" in text and "right: navy 100%" in text
        assert "suggested by qwen2.5vl:7b (y accept, n reject)" in text and "ahoge migrated -> right" in text
        await pilot.press("y")
        await wait_for(pilot, lambda: load_suggestions(catalog, 20)[0]["state"] == "accepted", what="accepted")
        await wait_for(pilot, lambda: "ahoge migrated -> right [qwen2.5vl:7b]" in screen_text(app),
                       what="the accepted suggestion shown as the model's annotation")
        await pilot.press("n")
        await wait_for(pilot, lambda: load_suggestions(catalog, 20)[1]["state"] == "rejected", what="rejected")
        await wait_for(pilot, lambda: "2 decided" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("no pending suggestion" in n.message for n in app._notifications),
                       what="a warning, nothing decided")
    with catalog.session() as s:
        anns = list(s.exec(select(Annotation).where(Annotation.result_id == 20)))
    assert [(a.feature, a.outcome, a.author) for a in anns] == [("ahoge", "migrated", "qwen2.5vl:7b")]
    catalog.close()


async def test_bleed_matrix_screen_shows_the_operating_line(tmp_path):
    from gentui.catalog.annotations import add_annotation
    from gentui.tui.widgets.results_table import ResultsTable

    settings = make_settings(tmp_path / "home")
    catalog = populate(settings)
    for rid in (1, 3, 5, 11, 13, 15):  # side_by_side at 0.4, 0.6, 0.8 (two seeds): clean
        add_annotation(catalog, rid, "left", "side_ponytail", "present")
    for rid in (7, 17):  # side_by_side at 1.0: bled
        add_annotation(catalog, rid, "left", "side_ponytail", "migrated", target="right")
    app = make_app(settings, catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(ResultsTable).total == 20)
        await pilot.press("m")
        await wait_for(pilot, lambda: "Operating line" in screen_text(app), what="operating line")
        text = " ".join(screen_text(app).split())
        assert "Operating line (bleed under 10%, m to change)" in text
        assert ("side_by_side, named, 2 characters: not enough judged images: 0.8 has 2 (need 3; "
                "0/2 judged bled, 95% CI 0%-66%); bleeds at 1.0 (2/2 judged bled, 100%)") in text
        assert "clustered, unnamed, 2 characters: no judged images" in text
        await pilot.press("m")
        await wait_for(pilot, lambda: "bleed under 5%" in screen_text(app), what="threshold cycled")
    catalog.close()
