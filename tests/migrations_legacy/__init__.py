"""The migration chain as it stood before the squash (main at 3b14af7), kept only to test the way off it.

Each of the four original servers had eight revisions, `<server>_0001` to `<server>_0700` (applied in
the order 0001, 0100, 0200, 0300, 0400, 0600, 0500, 0700), built from the helper modules beside this
file. They are the files of that commit, moved here with their imports pointed at this package and
nothing else changed; `tests/shared/test_upgrade_squashed.py` migrates a database with them, then
takes it onto the single initial revisions with `supplychain db upgrade-squashed`.
Nothing outside that test may import them.
"""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).parent
