"""Every recorded trace replays on every run, on loop devices, and ends as its header says;
trace files are parsed strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitmirror.harness.replay import on_engine, replay
from pitmirror.harness.traces import Trace, dump_trace, parse_trace, read_trace, trace_files
from pitmirror.harness.transport_mutants import TRANSPORT_MUTANTS
from pitmirror.model.actions import CommitPoint, CopyGrain, CrashSite, HostWrite, TraceFormatError

TRACES = Path(__file__).resolve().parent.parent / "traces"
FILES = trace_files(TRACES)


def test_the_trace_folder_is_not_empty() -> None:
    assert len(FILES) >= 8, f"expected the recorded traces under {TRACES}"
    mutants = [read_trace(p) for p in FILES if p.parent.name == "mutants"]
    assert {t.expect for t in mutants if t.transport is None} == {"violation"}
    transport = {t.transport for t in mutants if t.expect == "divergence"}
    assert transport == {
        f"tcp:{name}" for name in TRANSPORT_MUTANTS
    }  # each transport mutant's trace


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_trace_replays_as_its_header_expects(path: Path, loop_backend: str) -> None:
    trace = read_trace(path)
    assert trace.why.strip(), "a trace opens with why it exists"
    if trace.power_loss is not None:  # it pins a power-loss crash state: that replays
        verdict = on_engine(trace, loop_backend)
        assert verdict.backend == "loop" and verdict.violated == trace.violates, verdict.words
        return
    result = replay(trace, loop_backend)
    assert result.backend == "loop"
    assert result.as_expected, result.verdict()
    if trace.expect == "violation":
        assert result.violated == trace.violates
        assert result.last.index == len(trace.actions), "the violation ends the trace"


def test_dump_and_parse_round_trip() -> None:
    trace = Trace(
        design="cyclic-flashcopy",
        grains=4,
        grain_size=4096,
        why="round trip",
        actions=[HostWrite(1, 9), CommitPoint(), CrashSite("remote", 2)],
    )
    again = parse_trace(dump_trace(trace))
    assert again.actions == trace.actions and again.header() == trace.header()


HEADER = (
    '{"trace": 1, "design": "cyclic-flashcopy", "grains": 4, "grain_size": 4096, '
    '"why": "x", "expect": "pass"}'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the trace is empty"),
        (HEADER, "a header and no actions"),
        ("{not json", ":1: not JSON"),
        ('{"trace": 1}', "the header lacks design"),
        (HEADER.replace("cyclic-flashcopy", "nope"), "unknown design"),
        (HEADER.replace('"grain_size": 4096', '"grain_size": 1000'), "multiple of 512"),
        (HEADER + '\n{"action": "Teleport"}', ":2: unknown action 'Teleport'"),
        (HEADER + '\n{"action": "CopyGrain"}', ":2: CopyGrain is missing field 'grain'"),
        (HEADER + '\n{"action": "CopyGrain", "grain": 9}', "grain 9 is outside the 4-grain"),
        (HEADER + '\n{"action": "CopyGrain", "grain": -1}', "non-negative integer"),
        (HEADER + '\n{"action": "CrashSite", "site": "moon"}', "site must be one of"),
        (HEADER + '\n{"action": "LinkUp", "extra": 1}', "unknown field(s): extra"),
        (HEADER.replace('"pass"', '"violation"'), "must name the predicate"),
        (HEADER.replace('"why"', '"options": {"warp": 1}, "why"'), "unknown option(s): warp"),
        (HEADER.replace('"trace": 1', '"trace": 3'), "trace format 3 is not 1 or 2"),
        (HEADER.replace('"why"', '"transport": "udp", "why"'), "unknown transport 'udp'"),
        (HEADER.replace('"pass"', '"divergence"'), "and only one, expects a divergence"),
        (
            HEADER.replace('"why"', '"transport": "tcp:acknowledge-before-applying", "why"'),
            "and only one, expects a divergence",
        ),
        (HEADER + '\n{"action": "CopyGrain", "grain": 0, "count": 2}', "needs trace format 2"),
        (
            HEADER.replace('"trace": 1', '"trace": 2')
            + '\n{"action": "DrainTarget", "grain": 2, "count": 3}',
            "grain 2+3 is outside the 4-grain",
        ),
    ],
)
def test_corrupt_traces_are_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(TraceFormatError) as err:
        parse_trace(text, "t.jsonl")
    assert message in str(err.value)


def test_local_failures_are_not_part_of_the_collection(tmp_path: Path) -> None:
    """`check` and `prove` save under failures/; verify replays the curated traces only."""
    text = FILES[0].read_text()
    (tmp_path / "failures").mkdir()
    (tmp_path / "failures" / "found.jsonl").write_text(text)
    (tmp_path / "kept.jsonl").write_text(text)
    assert trace_files(tmp_path) == [tmp_path / "kept.jsonl"]


def test_an_extent_trace_is_format_2_and_reads_back() -> None:
    trace = Trace(
        design="cyclic-flashcopy", grains=8, grain_size=4096, why="extents",
        actions=[CopyGrain(0, 8), CommitPoint(), CopyGrain(3)],
    )  # fmt: skip
    text = dump_trace(trace)
    assert text.splitlines()[0].startswith('{"trace": 2') and '"count": 8' in text
    assert '{"action": "CopyGrain", "grain": 3}' in text  # one grain: the old line
    assert parse_trace(text).actions == trace.actions


def test_the_shrinker_does_two_actions_as_one_where_the_model_allows() -> None:
    """Found by `check -o drain-clears-past-its-end`: ten actions, of which a host write and
    a copy of an extent are one copy of a longer extent; dropping actions alone kept ten."""
    from pitmirror.harness.shrink import shrink
    from pitmirror.model import cyclic_flashcopy as A
    from pitmirror.model.actions import CommitPoint, CopyGrain, DrainTarget, HostWrite

    actions = [
        *(HostWrite(g, 1) for g in (2, 1, 3, 0)),
        CommitPoint(),
        HostWrite(2, 1),
        CopyGrain(0, 2),
        HostWrite(3, 1),
        CommitPoint(),
        DrainTarget(0),
    ]
    initial = A.initial_state(A.Config(grains=4), A.UNSAFE_OPTIONS["drain-clears-past-its-end"])
    shorter = shrink(actions, initial, "inv_target_is_committed_image")
    assert len(shorter) <= 8 and CopyGrain(0, 4) in shorter
