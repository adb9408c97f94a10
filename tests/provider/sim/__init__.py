"""A deterministic simulation of several providers sharing one SQLite ledger.

`scenario` draws a scenario from a seed (jobs, deploys, crashes, pauses, clock jumps, tick
drivers); `world` plays it against real `Provider` objects, each a thread that runs only
while the simulator hands it the baton, with simulated clocks and a simulated runner that
keeps its own log of what ran; `model` checks that log and the ledger's rows against the
schedule arithmetic of `schedules`, which restates SPEC.md parts 4, 5 and 9.6 without
importing the code under test.
"""
