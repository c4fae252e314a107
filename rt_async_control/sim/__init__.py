"""MuJoCo tasks and the simulator (no ROS, no clock, no sleeping).

- :mod:`.tasks`: ``load_task(name) -> TaskSpec`` from ``sim/<name>.yaml``;
- :mod:`.simulator`: ``Simulator(task, seed)`` (reset / apply / advance / state / observe);
- :mod:`.experts`: ``make_expert(task)``, model-based controllers acting on observations;
- :mod:`.predict`: ``predict(...)`` and ``DelayedExpert`` for observation delay;
- :mod:`.rollout`: ``episode(sim, controller, seed, obs_delay_steps)`` and ``Controller``.
"""
