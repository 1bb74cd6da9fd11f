"""`causalnet render`: default paths, formats, errors and exit codes."""

from __future__ import annotations

import shutil

import pytest

from causalnet.cli import main

from .helpers import RESNET_GRAPH


@pytest.fixture
def graph_file(tmp_path):
    path = tmp_path / "resnet.json"
    shutil.copy(RESNET_GRAPH, path)
    return path


def run(capsys, *argv):
    code = main(["render", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["render", "--help"])
    assert exc.value.code == 0
    assert "causalnet render graph.json --class 3" in capsys.readouterr().out


def test_default_outputs_are_named_after_the_graph(graph_file, capsys):
    code, lines, _ = run(capsys, graph_file, "--format", "dot")
    assert code == 0 and lines == [str(graph_file.with_suffix(".dot"))]
    assert "layer3.0.conv2 (+52 more)" in graph_file.with_suffix(".dot").read_text()
    code, lines, _ = run(capsys, graph_file, "--class", "3", "--only-class", "--format", "dot")
    assert code == 0 and lines == [str(graph_file.with_name("resnet.class3.dot"))]
    assert "more)" not in graph_file.with_name("resnet.class3.dot").read_text()


def test_out_suffix_picks_the_format_and_html_shortcut(graph_file, tmp_path, capsys):
    code, lines, _ = run(capsys, graph_file, "--out", tmp_path / "o.dot", "--top", "4",
                         "--html", tmp_path / "o.html")
    assert code == 0 and lines == [str(tmp_path / "o.html"), str(tmp_path / "o.dot")]
    assert (tmp_path / "o.html").read_text().startswith("<!DOCTYPE html>")
    code, lines, _ = run(capsys, graph_file, "--html", tmp_path / "only.html")
    assert code == 0 and lines == [str(tmp_path / "only.html")]


def test_heatmap(graph_file, tmp_path, capsys):
    code, lines, _ = run(capsys, graph_file, "--heatmap")
    assert code == 0 and lines == [str(graph_file.with_name("resnet.heatmap.png"))]
    assert graph_file.with_name("resnet.heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_errors_exit_2_with_one_line(graph_file, tmp_path, capsys):
    code, _, err = run(capsys, graph_file, "--class", "12")
    assert code == 2 and "its classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, _, err = run(capsys, bad)
    assert code == 2 and "not a causalnet graph" in err
    code, _, err = run(capsys, graph_file, "--format", "pdf", "--out", tmp_path / "x.svg")
    assert code == 2 and "--format pdf" in err
    code, _, err = run(capsys, graph_file, "--only-class")
    assert code == 2 and "needs a class" in err
    assert not (tmp_path / "x.svg").exists()
