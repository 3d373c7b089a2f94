"""The command-line progress line: on a terminal only, and wiped before other output."""
import io

from local_service.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_is_replaced_and_wiped_on_a_terminal():
    out = Terminal()
    progress = Progress(out)
    progress.show("read 1/2 rows")
    progress.show("read 2/2 rows")
    progress.clear()
    progress.clear("scanned 2 files")
    assert out.getvalue() == ("\r\033[Kread 1/2 rows\r\033[Kread 2/2 rows\r\033[K"
                              "\r\033[Kscanned 2 files\n")


def test_progress_writes_nothing_when_not_a_terminal():
    out = io.StringIO()
    progress = Progress(out)
    progress.show("read 1/2 rows")
    progress.clear("done")
    assert out.getvalue() == ""
