"""``retail-pipeline quarantine`` on a lakehouse with rejected rows."""

from datetime import date

import dagster as dg

from retail_pipeline.app.cli import main
from retail_pipeline.app.quarantine import quarantine_report
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline_tests.app.test_pipeline import write_days


def test_the_report_groups_by_reason_and_points_to_file_and_record(landing, lakehouse_root, capsys):
    write_days(landing)
    house = run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False).lakehouse

    report = quarantine_report(house)
    assert report.startswith("2 quarantined rows in the lakehouse, by reason:")
    assert "unparseable_date" in report and "unparseable_quantity" in report
    assert "online_retail_2010-12-01.csv:5" in report
    # The line as it was (empty CustomerID included), so a person can fix the source.
    assert "536367,22139,bad date,1,13/45/2010 9:41,1.0,,United Kingdom" in report

    one_day = quarantine_report(house, date(2010, 12, 2))
    assert one_day.startswith("1 quarantined rows on 2010-12-02") and "unparseable_date" not in one_day
    assert quarantine_report(house, date(2010, 12, 3)) == "No quarantined rows on 2010-12-03."

    assert main(["quarantine", "--lakehouse", str(lakehouse_root), "--date", "2010-12-02"]) == 0
    assert "online_retail_2010-12-02.csv:3" in capsys.readouterr().out
