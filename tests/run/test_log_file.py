"""run.log on a file system that refuses it (a full disk, a quota): one line on stderr, then no more tries, instead
of logging's "--- Logging error ---" traceback for every message."""

from __future__ import annotations

import errno
import logging

from hf_quicktune.run.session import LogFileHandler


class _FullDisk:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_refused_log_file_is_said_once_and_not_written_again(tmp_path, capsys):
    handler = LogFileHandler(tmp_path / "run.log")
    handler.stream.close()
    handler.stream = full = _FullDisk()
    logger = logging.getLogger("hf_quicktune.test_log_file")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for i in range(5):
            logger.warning("message %d", i)
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    assert err.count("can no longer be written") == 1 and "No space left on device" in err
    assert "run.log" in err and full.writes == 1 and handler.broken


def test_other_errors_are_still_logging_errors(tmp_path, capsys):
    handler = LogFileHandler(tmp_path / "run.log")
    logger = logging.getLogger("hf_quicktune.test_log_file_fmt")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("%d", "not a number")  # a bad format string is a bug, not the disk
        logger.warning("written")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert "Logging error" in capsys.readouterr().err and handler.broken is None
    assert "written" in (tmp_path / "run.log").read_text()
