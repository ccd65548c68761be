"""podctl: the operator's console of the emulated Eros pod (SPEC.md section 6, the bench).

A tester who points a PDM or closed-loop app at the emulated pod uses podctl beside it to break
things on purpose and to watch the pod: ``podctl info``, ``podctl lose-next-reply``,
``podctl fault 0x14``, ``podctl watch`` (a live terminal view) and ``podctl web`` (a live page).
It talks to the pod's bench port (``--bench-listen``), never to the Eros message link.
"""
