"""benchmarks/bench_cluster.py: rewriting the table keeps the sections measured by hand."""

from __future__ import annotations

from _load import ROOT, load_script

bench_cluster = load_script("bench_cluster")


def test_hand_measured_sections_are_kept_to_the_end() -> None:
    text = (
        "# title\n\n## Whole workflow\n\n| a |\n\n"
        "## Starting the cluster (measured by hand, not by this script)\n\nx\n\n"
        "## The CI step (measured by hand, not by this script)\n\ny\n"
    )
    kept = bench_cluster.hand_measured(text)
    assert kept == (
        "\n## Starting the cluster (measured by hand, not by this script)\n\nx\n\n"
        "## The CI step (measured by hand, not by this script)\n\ny\n"
    )


def test_a_table_without_hand_measured_sections_keeps_nothing() -> None:
    assert bench_cluster.hand_measured("# title\n\n## Whole workflow\n| a |\n") == ""


def test_the_committed_table_keeps_its_ci_section() -> None:
    committed = (ROOT / "benchmarks" / "results" / "cluster.md").read_text()
    kept = bench_cluster.hand_measured(committed)
    assert "## The CI step" in kept
    assert committed.endswith(kept.lstrip("\n"))
