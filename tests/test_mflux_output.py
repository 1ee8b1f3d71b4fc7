"""Parsing mflux's output: tqdm bars redrawn with carriage returns, and the lines that explain a run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gentui.backends.mflux_output import OutputFacts, parse_progress, split_lines


def test_tqdm_redraws_become_steps():
    stream = ("\r  0%|          | 0/4 [00:00<?, ?it/s]\r 25%|##5       | 1/4 [00:02<00:06,  2.10s/it]"
              "\r 50%|#####     | 2/4 [00:04<00:04,  2.05s/it]\r100%|##########| 4/4 [00:08<00:00,  2.0s/it]\n")
    lines, rest = split_lines(stream)
    facts = OutputFacts()
    steps = [s for s in (facts.feed(line) for line in lines) if s]
    assert steps == [(0, 4), (1, 4), (2, 4), (4, 4)] and rest == ""


def test_bars_with_a_description_are_not_denoising_steps():
    assert parse_progress("Fetching 10 files: 100%|##########| 10/10 [00:00<00:00]") is None
    assert parse_progress(" 30%|###       | 3/10 [00:03<00:07,  1.0it/s]") == (3, 10)


def test_saved_path_memory_and_stop_line():
    facts = OutputFacts()
    for line in ["INFO: Image saved successfully at: /tmp/r/image.png", "Peak MLX memory: 12.50 GB",
                 "Stopping image generation at step 3/8"]:
        facts.feed(line)
    assert facts.saved_paths == ["/tmp/r/image.png"]
    assert facts.peak_memory_gb == 12.5 and facts.stopped_at == (3, 8)


def test_failure_reason_prefers_argparse_error_then_exception():
    facts = OutputFacts()
    for line in ["usage: mflux-generate-flux2 [-h] ...",
                 "mflux-generate-flux2: error: --guidance is only supported for FLUX.2 base models."]:
        facts.feed(line)
    assert facts.failure_reason(2) == "--guidance is only supported for FLUX.2 base models."
    facts = OutputFacts()
    for line in ["Traceback (most recent call last):", '  File "x.py", line 1', "RuntimeError: out of memory"]:
        facts.feed(line)
    assert facts.failure_reason(1) == "RuntimeError: out of memory"
    assert "status 1" in OutputFacts().failure_reason(1)


@given(st.text())
def test_hostile_output_never_breaks_the_parser(text):
    lines, rest = split_lines(text)
    facts = OutputFacts()
    for line in [*lines, rest]:
        step = facts.feed(line)
        if step is not None:
            assert 0 <= step[0] <= step[1] and step[1] > 0
    assert isinstance(facts.failure_reason(None), str)


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.text(alphabet="# |=-", max_size=12))
def test_any_well_formed_bar_parses(step, total, bar):
    step = min(step, total)
    line = f"{100 * step // total:3d}%|{bar.replace('|', '#')}| {step}/{total} [00:01<00:02, 1.5it/s]"
    assert parse_progress(line) == (step, total)
