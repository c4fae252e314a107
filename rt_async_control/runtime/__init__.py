"""Embedded runtime: the whole stack in real time on one machine, no ROS.

Separate processes (``multiprocessing`` 'spawn') joined by shared-memory latest-value
channels: ``launcher`` (plans the run, starts and stops the children, collects results),
``sim_process``, ``worker_process`` (one per inference worker), ``arbiter_process`` (ticks,
owns the schedule), ``recorder_process`` (MCAP, optional); ``records`` (the channel record
layouts), ``child`` (what every child shares), ``report`` / ``report_plots`` (summary.json,
table, PNGs), ``status`` (live status line). Transport: ``channels``; timing: ``timing``.
"""
