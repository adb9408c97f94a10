"""The reference provider (SPEC.md section 10): runs each job at least once per cadence.

`ledger` names the seam (the `Ledger` protocol, its records and `open_ledger`),
`ledger_sqlite` the embedded backend, `ledger_postgres` the shared one for replicas,
`catchup` the pure due/missed arithmetic, `runner` and `child` how one attempt executes,
and `loop` the `Provider` itself.
"""
