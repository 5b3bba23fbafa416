"""dta report on recorded runs (tests/assets/report): files, deltas, and headless Chromium."""

import csv
import shutil

import pytest

from ..conftest import REPO, run_dta

ASSETS = REPO / "tests" / "assets" / "report"
PAYLOAD = "<script>window.__xss=1</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = run_dta(
        "report", str(ASSETS), "--baseline", "tiny-hf-fp32",
        "--baseline", "qwen3-32b-thinking (reported)", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result


def test_files_tables_and_deltas(report):
    out, result = report
    html = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    assert ("**tiny-gguf-q8_0**: pass@1 +4.17 points; median end-to-end latency −92% "
            "vs tiny-hf-fp32") in markdown  # fmt: skip
    assert "qwen3-32b-thinking (reported) is a reported (quoted) row" in result.stdout
    assert "## Reported (quoted, not measured)" in markdown and "72.45" in markdown
    # each quoted row says how its source scored; one that does not say is not given a protocol
    qwen = "| qwen3-32b-thinking (reported) | 69.51 | 76.00 (k=16) | telemath-reference |"
    assert qwen in markdown
    assert "| dta-student (reported) | 72.45 | – | not stated |" in markdown
    for plot in ("Accuracy vs energy per", "Latency CDF", "Loss curves",
                 "Curation funnel", "Export parity"):  # fmt: skip
        assert plot in html, plot
    assert "show that the pipeline runs end to end" in html  # tiny-model disclaimer
    # analyses recorded by the demo (JSON only; their PNGs are not kept in git)
    assert "Token shift: where the tuned models gained" in html and "logical_discourse" in html
    assert "Latent drift from base" in html and "telecom-advanced" in html
    assert "Pairwise judging: dta-gguf vs distilled-gguf" in html
    assert "## Pairwise: dta-gguf vs distilled-gguf" in markdown
    rows = list(csv.DictReader((out / "results.csv").open()))
    labels = {r["system"]: r["label"] for r in rows}
    assert labels["tiny-gguf-q8_0"] == "measured" and labels["dta-student (reported)"] == "reported"
    h100 = next(r for r in rows if r["system"] == "qwen3-0.5b-random-bf16")
    assert h100["meter"] == "nvml" and h100["energy_estimated"] == "False"
    assert float(h100["joules_per_output_token"]) > 0
    # self-contained: nothing fetched from anywhere
    for marker in ('src="http', "src='http", 'href="http', "<link ", "@import", "url(http"):
        assert marker not in html, marker


def test_model_text_is_escaped_in_the_file(report):
    out, _ = report
    html = (out / "report.html").read_text()
    assert PAYLOAD not in html and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html


def test_bad_baseline_and_empty_folder_exit_2(tmp_path):
    result = run_dta("report", str(ASSETS), "--baseline", "nope", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "baseline 'nope'" in result.stderr
    result = run_dta("report", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "no bench summary.json" in result.stderr


def chromium_driver():
    """Headless Debian Chromium through chromedriver (both installed by `make test`)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromedriver not installed (make test installs them with apt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2200",
                 "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_report_renders_in_headless_chromium(report, artifacts_dir):
    out, _ = report
    browser = chromium_driver()
    try:
        browser.get((out / "report.html").as_uri())
        browser.save_screenshot(str(artifacts_dir / "report.png"))
        assert browser.title == "dta-edge report"
        for table in ("systems", "reported", "exports", "environment", "drift"):
            assert browser.find_element("id", table).is_displayed(), table
        sizes = browser.execute_script(
            "return [...document.querySelectorAll('figure.plot svg')]"
            ".map(s => [s.getBoundingClientRect().width, s.getBoundingClientRect().height]);"
        )
        assert len(sizes) >= 5 and all(w > 100 and h > 100 for w, h in sizes), sizes
        broken = browser.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;"
        )
        assert broken == 0
        # the payloads in model text did not run, and show as text
        assert browser.execute_script("return window.__xss === undefined;")
        samples = " ".join(e.text for e in browser.find_elements("css selector", "pre.sample"))
        assert PAYLOAD in samples and 'onerror="window.__xss=2"' in samples
    finally:
        browser.quit()
    assert (artifacts_dir / "report.png").stat().st_size > 10_000


def test_roofline_column_and_plot(tmp_path):
    """A bench summary with roofline figures shows them in the table, the CSV and a plot."""
    import json

    assets = shutil.copytree(ASSETS / "cpu-bench", tmp_path / "runs" / "cpu-bench")
    summary = json.loads((assets / "summary.json").read_text())
    first = summary["systems"][0]
    first.update(decode_bytes_per_token=1.1e6, decode_bandwidth_gbs=2.5,
                 memory_bandwidth_gbs=17.4, bandwidth_share=2.5 / 17.4, decode_gflops=4.4,
                 compute_ceiling_gflops=88.0, compute_share=0.05,
                 roofline_binding="memory")  # fmt: skip
    second = summary["systems"][1]
    second.update(decode_bytes_per_token=1.1e6, decode_bandwidth_gbs=1.0,
                  memory_bandwidth_gbs=17.4, bandwidth_share=1.0 / 17.4)  # fmt: skip
    (assets / "summary.json").write_text(json.dumps(summary))
    result = run_dta("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "Roofline: decode bandwidth achieved" in html
    both = "2.5 of 17.4 GB/s (14.4%), 4.4 of 88 GFLOP/s (5.0%); memory binds"
    assert both in html and f"| {both} |" in markdown
    # no compute ceiling measured: the bandwidth alone, and no verdict on which binds
    assert "| 1 of 17.4 GB/s (5.7%) |" in markdown
    rows = {r["system"]: r for r in csv.DictReader((tmp_path / "out" / "results.csv").open())}
    assert float(rows[first["system"]]["bandwidth_share"]) == pytest.approx(2.5 / 17.4)
    assert float(rows[first["system"]]["compute_share"]) == pytest.approx(0.05)
    assert rows[first["system"]]["roofline_binding"] == "memory"


def test_energy_deltas_say_their_kind_and_never_mix_models():
    from dta_edge.bench.metrics import SystemSummary
    from dta_edge.report.deltas import headline_deltas

    def system(name, meter, estimated, joules):
        return SystemSummary(system=name, problems=4, requests=4, errors=0, pass_at_1=0.5,
                             pass_at_1_ci95=(0.1, 0.9), joules_per_output_token=joules,
                             meter=meter, energy_estimated=estimated)  # fmt: skip

    systems = [
        system("base", "cpu-time", True, 0.02),
        system("tuned", "cpu-time", True, 0.01),
        system("carbon", "codecarbon", True, 0.03),
        system("gpu", "nvml", False, 0.5),
    ]
    deltas, notes = headline_deltas(systems, [], ["base"])
    energy = [d.text for d in deltas if d.metric == "J/token"]
    assert energy == ["energy per output token (estimated) −50% vs base"]
    assert "carbon vs base: energy not compared (estimated by codecarbon vs cpu-time)" in notes
    assert "gpu vs base: energy not compared (measured vs estimated)" in notes


def test_accuracy_deltas_carry_paired_intervals_and_cons_at_k() -> None:
    """With per-problem scores, every accuracy delta gets its paired interval; a k-sample baseline
    is also compared by its cons@k; scores that do not cover the summaries give a note instead."""
    from dta_edge.bench.metrics import SystemSummary
    from dta_edge.report.deltas import headline_deltas

    def summary(name: str, pass1: float, k: int = 1, cons: float | None = None) -> SystemSummary:
        return SystemSummary(system=name, k=k, problems=100, requests=100 * k, errors=0,
                             pass_at_1=pass1, pass_at_1_ci95=(0.0, 1.0), cons_at_k=cons,
                             output_tokens_per_problem=10.0, meter="none")  # fmt: skip

    dta, big = summary("dta", 0.6), summary("big", 0.3, k=4, cons=0.4)
    scores = {"dta": {f"p{i}": float(i < 60) for i in range(100)},
              "big": {f"p{i}": float(i < 30) for i in range(100)}}  # fmt: skip
    votes = {"big": {f"p{i}": float(i < 40) for i in range(100)}}
    deltas, notes = headline_deltas([dta, big], [], ["big"], scores, votes)
    by_metric = {d.metric: d for d in deltas if d.system == "dta"}
    assert by_metric["pass@1"].value == pytest.approx(30.0)
    assert 20 < by_metric["pass@1"].low < 30 < by_metric["pass@1"].high < 40
    assert by_metric["cons@4"].value == pytest.approx(20.0)
    assert "against cons@4 [paired 95% CI" in by_metric["cons@4"].text
    assert by_metric["cons@4"].p_value is not None and by_metric["cons@4"].p_value < 1e-4
    assert not notes
    partial = {"dta": dict(list(scores["dta"].items())[:50]), "big": scores["big"]}
    deltas, notes = headline_deltas([dta, big], [], ["big"], partial, votes)
    assert all(d.low is None for d in deltas)
    assert any("no paired interval" in note for note in notes)


def test_point_labels_of_a_crowded_pareto_plot_do_not_overlap() -> None:
    """The demo's seven rows: three at the same pass@1, two at the same energy as well."""
    import matplotlib

    matplotlib.use("Agg")
    from dta_edge.report.plots import _figure, label_points

    rows = [(0.0132, 13.0, "base-gguf"), (0.0154, 34.0, "distilled-gguf"),
            (0.0154, 41.0, "dta-gguf"), (0.0154, 41.0, "dta-onnx"),
            (0.0246, 28.5, "big-gguf"), (0.0139, 41.0, "big-gguf-thinking"),
            (0.0247, 27.9, "big-gguf-cons4")]  # fmt: skip
    figure, axes = _figure()
    axes.scatter([r[0] for r in rows], [r[1] for r in rows])
    boxes = label_points(figure, axes, rows)
    assert len(boxes) == len(rows)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), rows
