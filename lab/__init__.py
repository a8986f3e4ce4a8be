"""Lab equipment for ``notebooks/14_beyond_one_machine.ipynb`` and the tests: not part of mpref.

What the parent uses to set up and run chapter 14's experiments, never what a
child runs (that is in ``mpref/targets/``, importable by every child), and not
installed by ``pip install mpref`` (only ``mpref*`` is packaged).  The tests
import it from the repository's root, which pytest puts on ``sys.path``;
chapter 14 adds that folder itself.

* ``netns`` -- test hosts: network namespaces joined by virtual cables (root, Linux);
* ``remote_client`` -- the parent's handle on a remote-queue client shell on such a host;
* ``pool_program`` -- one Pool program, and its timings, for any ``Pool``
  (mpref's, the stdlib's, Ray's);
* ``ray_cluster`` -- starting and stopping a small local Ray cluster, and
  putting back the signal handlers Ray replaces;
* ``procfs`` -- which processes are alive, and which mention a text, from ``/proc``.

Each leftover sweep lives with what it sweeps: ``netns.sweep_orphans`` and
``ray_cluster.sweep_orphan_ray_dirs``, which the test session runs at its start.
"""
