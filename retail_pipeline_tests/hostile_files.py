"""The hostile files of issue 15, run through the pipeline: prints, for each, the rows in bronze, silver and
quarantine (by reason) and whether the run succeeded. Not a test: a script whose figures the note quotes
(run it with this release and an older one to compare).

    python -m retail_pipeline_tests.hostile_files

- ``stray-quote``: one day of 1,210 generated sales lines where one description opens a quote it never
  closes (a common export bug);
- ``positive-cancellation``: two days, one cancellation line (C invoice) with a positive quantity;
- ``mixed-encoding``: a UTF-8 file whose line 7 says ``CAFÉ AU LAIT BOWL`` and whose line 11 holds one
  cp1252 byte (0xA3, a pound sign).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _day_lines(workdir: Path, day: date, rows: int) -> list[str]:
    from retail_pipeline.app.generate import generate_landing

    out = workdir / f"gen-{day}"
    generate_landing(out, rows=rows, seed=15, start=day, end=day)
    [path] = sorted(out.iterdir())
    lines = path.read_text().splitlines()
    return [line for line in lines[1:] if line.strip()]


def stray_quote(workdir: Path) -> dict[str, bytes]:
    lines = _day_lines(workdir, date(2011, 6, 7), 1_210)
    fields = lines[300].split(",")
    fields[2] = '"' + fields[2].strip('"')  # the description opens a quote and never closes it
    lines[300] = ",".join(fields)
    return {"online_retail_2011-06-07.csv": ("\n".join([HEADER, *lines]) + "\n").encode()}


def positive_cancellation(workdir: Path) -> dict[str, bytes]:
    files = {}
    for day in (date(2011, 6, 7), date(2011, 6, 8)):
        lines = _day_lines(workdir, day, 300)
        if day.day == 8:
            lines.append(f"C581999,22139,RETROSPOT TEA SET CERAMIC 11 PC,5,{day.month}/{day.day}/{day.year} 12:00,4.95,14527,United Kingdom")
        files[f"online_retail_{day}.csv"] = ("\n".join([HEADER, *lines]) + "\n").encode()
    return files


def mixed_encoding(workdir: Path) -> dict[str, bytes]:
    lines = [line.encode() for line in _day_lines(workdir, date(2011, 6, 7), 30)]
    lines[5] = "581007,22139,CAFÉ AU LAIT BOWL,2,6/7/2011 9:07,2.95,13047,France".encode()  # physical line 7
    lines[9] = b"581011,22139,TEA SET \xa3 OFFER,1,6/7/2011 9:11,4.95,13047,United Kingdom"  # line 11
    return {"online_retail_2011-06-07.csv": b"\n".join([HEADER.encode(), *lines]) + b"\n"}


def measure(name: str, files: dict[str, bytes], workdir: Path) -> str:
    import dagster as dg
    import polars as pl

    from retail_pipeline.adapters.lakehouse import Lakehouse
    from retail_pipeline.app.runner import RunFailed, run_pipeline

    landing, lake = workdir / name / "landing", workdir / name / "lake"
    landing.mkdir(parents=True)
    for file, content in files.items():
        (landing / file).write_bytes(content)
    lines = sum(sum(1 for line in content.splitlines()[1:] if line.strip()) for content in files.values())
    outcome = "run succeeded"
    try:
        run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    except RunFailed as exc:
        outcome = "run FAILED: " + str(exc).splitlines()[-1][:160]
    house = Lakehouse(root=str(lake))

    def rows(table: str) -> int:
        return house.read(table).height if house.exists(table) else 0

    quarantine = house.read("silver/quarantine") if house.exists("silver/quarantine") else pl.DataFrame({"reason_code": []})
    reasons = dict(quarantine.group_by("reason_code").len().iter_rows()) if quarantine.height else {}
    daily = house.read("gold/daily_sales")["invoice_date"].n_unique() if house.exists("gold/daily_sales") else 0
    text = (
        f"{name}: {lines:,} data lines -> bronze {rows('bronze/transactions'):,}, silver {rows('silver/transactions'):,}, "
        f"quarantine {quarantine.height:,} {reasons}, gold dates {daily}; {outcome}"
    )
    if name == "mixed-encoding" and house.exists("silver/transactions"):
        silver = house.read("silver/transactions")
        found = silver.filter(pl.col("invoice_no").is_in(["581007", "581011"])).sort("invoice_no")["description"].to_list()
        text += f"; descriptions {found}"
    return text


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name, build in (("stray-quote", stray_quote), ("positive-cancellation", positive_cancellation),
                            ("mixed-encoding", mixed_encoding)):
            print(measure(name, build(workdir), workdir), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
