import signal
import sys

if "--worker-slot" in sys.argv:  # a starting worker must not die of a reload's SIGHUP
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

from kubegate.cli.main import main  # noqa: E402

main()
