"""Generate ``marketplace/data/admin_units.json`` from the ``vietnamadminunits`` package.

The 2025 two-level list (34 provinces, 3,321 communes/wards) is shipped as a data file so the
app does not depend on the package at runtime.  Run with the dev requirements installed::

    .venv/bin/python scripts/gen_admin_units.py
"""
import json
from pathlib import Path

from vietnamadminunits.database.main import query

OUT = Path(__file__).resolve().parent.parent / "marketplace" / "data" / "admin_units.json"


def main() -> None:
    rows = query(
        "SELECT provinceCode, province, provinceShort, wardCode, ward, wardShort, wardType "
        "FROM admin_units ORDER BY provinceCode, wardCode"
    )
    provinces: dict[int, list] = {}
    wards = []
    for r in rows:
        pcode = int(r["provinceCode"])
        provinces.setdefault(pcode, [pcode, r["province"], r["provinceShort"]])
        wards.append([int(r["wardCode"]), pcode, r["ward"], r["wardShort"], r["wardType"]])
    data = {
        "source": "vietnamadminunits (MIT), table admin_units, effective 2025-07-01",
        "provinces": sorted(provinces.values()),
        "wards": wards,
    }
    assert len(data["provinces"]) == 34, len(data["provinces"])
    assert len({w[0] for w in wards}) == 3321, len(wards)
    OUT.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(data['provinces'])} provinces, {len(wards)} wards")


if __name__ == "__main__":
    main()
