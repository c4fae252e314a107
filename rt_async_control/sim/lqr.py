"""Discrete-time LQR from MuJoCo's own linearisation (no scipy).

The model is linearised with ``mujoco.mjd_transitionFD`` (one physics step), composed over the
physics steps of one control period (the command is held), and the Riccati equation is iterated
to a fixed point in numpy.
"""

from __future__ import annotations

import mujoco
import numpy as np


def linearise(model: mujoco.MjModel, data: mujoco.MjData, substeps: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(A, B)`` of one control period around the state and control in ``data``.

    :param model: the model (its timestep is one physics step).
    :param data: linearisation point (qpos, qvel, ctrl); ``mj_forward`` is run on it.
    :param substeps: physics steps per control period (command held).
    :return: ``A`` (2nv, 2nv) and ``B`` (2nv, nu) in tangent coordinates (dq, dv).
    """
    nv, nu = model.nv, model.nu
    a = np.zeros((2 * nv, 2 * nv))
    b = np.zeros((2 * nv, nu))
    mujoco.mj_forward(model, data)
    mujoco.mjd_transitionFD(model, data, 1e-6, True, a, b, None, None)
    a_period = np.eye(2 * nv)
    b_period = np.zeros((2 * nv, nu))
    for _ in range(substeps):
        b_period = a @ b_period + b
        a_period = a @ a_period
    return a_period, b_period


def lqr_gain(a: np.ndarray, b: np.ndarray, q: np.ndarray, r: np.ndarray,
             iterations: int = 5000, tol: float = 1e-10) -> np.ndarray:
    """Return the discrete LQR gain ``K`` (u = -K x) by Riccati iteration.

    :param a: state transition (n, n).
    :param b: input matrix (n, m).
    :param q: state cost (n, n), symmetric positive semi-definite.
    :param r: input cost (m, m), symmetric positive definite.
    :raises ValueError: the iteration does not converge (uncontrollable model).
    """
    p = q.copy()
    for _ in range(iterations):
        gain = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)
        p_next = q + a.T @ p @ (a - b @ gain)
        p_next = 0.5 * (p_next + p_next.T)
        if np.max(np.abs(p_next - p)) <= tol * max(1.0, np.max(np.abs(p))):
            return np.linalg.solve(r + b.T @ p_next @ b, b.T @ p_next @ a)
        p = p_next
    raise ValueError('lqr_gain: the Riccati iteration did not converge')
