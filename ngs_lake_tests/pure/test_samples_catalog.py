"""The catalogue's `samples` view (issue #31) and the three queries the manual documents
(docs/operators/catalogue-and-capacity.md, "Samples and projects"), run as written there over
per-run sample manifests: DuckDB on local files, no AWS."""

import json
import shlex
from datetime import date

from ngs_lake.inventory.query import open_catalogue, run_query
from ngs_lake.inventory.samples_catalog import latest_manifests, samples_frame
from ngs_lake_tests.conftest import REPO


def documented_sample_queries() -> list[str]:
    text = (REPO / "docs" / "operators" / "catalogue-and-capacity.md").read_text()
    section = text.split("### Samples and projects", 1)[1]
    blocks = [b.split("```", 1)[0] for b in section.split("```sh")[1:]]
    return [shlex.split(b.strip())[3] for b in blocks]


def manifest(run_key, sequence, site, run_date, samples, run_bytes, digest="a" * 64):
    return {
        "schema": "ngs-lake/sample-manifest/v1",
        "run_key": run_key,
        "sequence": sequence,
        "run": {
            "site": site,
            "platform": "miseq",
            "flowcell": run_key[-5:],
            "bytes": run_bytes,
            "objects": 10,
            "run_date": run_date,
            "sequencer_id": run_key.split("/")[0],
        },
        "samplesheet": {"digest": digest, "version_id": "v", "status": "ok"},
        "no_samples": None,
        "samples": [
            {"sample_id": s, "project": p, "lane": lane, "index": "ACGT", "index2": None}
            for s, p, lane in samples
        ],
    }


RUN_A, RUN_B, RUN_C = "MIS-MAD-01/160607_A", "MIS-MAD-01/160702_B", "MIS-BOS-01/160610_C"
MANIFESTS = [
    manifest(RUN_A, 3, "madison", "2016-06-07", [("MyFirstSample", "SampleProject", 1)], 100),
    # RUN_A's sheet revised after completion: the later manifest is the one in force.
    manifest(
        RUN_A,
        5,
        "madison",
        "2016-06-07",
        [
            ("MyFirstSample", "SampleProject", 1),
            ("MyFirstSample", "SampleProject", 2),
            ("MySecondSample", "Other", 1),
        ],
        100,
        "b" * 64,
    ),
    manifest(RUN_B, 3, "madison", "2016-07-02", [("MyFirstSample", "SampleProject", 1)], 50),
    manifest(RUN_C, 3, "boston", "2016-06-10", [("MyThirdSample", "SampleProject", 1)], 70),
    manifest(RUN_C.replace("C", "D"), 3, "madison", "2016-06-20", [], 20),  # a bad sheet
]


def test_the_latest_manifest_of_a_run_is_its_sheet_in_force():
    assert [m["sequence"] for m in latest_manifests(MANIFESTS) if m["run_key"] == RUN_A] == [5]
    frame = samples_frame(MANIFESTS)
    assert frame.height == 5
    assert frame.filter(frame["run_key"] == RUN_A)["sheet_digest"].unique().to_list() == ["b" * 64]


def test_the_three_documented_queries(tmp_path):
    for number, body in enumerate(MANIFESTS):
        path = tmp_path / "samples" / body["run_key"] / f"{number}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
    runs_of_sample, project_by_month, site_in_range = documented_sample_queries()
    with open_catalogue(tmp_path) as db:
        assert run_query(db, runs_of_sample)[1] == [
            (RUN_A, "160607_A"[-5:], date(2016, 6, 7), 1),
            (RUN_A, "160607_A"[-5:], date(2016, 6, 7), 2),
            (RUN_B, "702_B", date(2016, 7, 2), 1),
        ]
        columns, rows = run_query(db, project_by_month)
        assert columns == ["month", "runs", "bytes"]
        assert rows == [("2016-06", 2, 170), ("2016-07", 1, 50)]
        assert run_query(db, site_in_range)[1] == [
            ("MyFirstSample", "SampleProject", RUN_A, date(2016, 6, 7)),
            ("MySecondSample", "Other", RUN_A, date(2016, 6, 7)),
        ]
