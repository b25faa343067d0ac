"""Opening a login URL for a person.

The URL always goes to stderr too, so a person on a machine without a browser (SSH, a
container) can copy it. The launcher's own output never reaches stdout: the runner points
file descriptor 1 at stderr while a provider runs, and child processes inherit that.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import webbrowser

from credplugin import log
from credplugin.errors import UsageError, os_reason
from credplugin.prompt import Prompter


def open_url(
    url: str, prompter: Prompter, *, command: str | None, skip: bool, background: bool = False
) -> None:
    """Print the URL, then start the browser.

    With `background`, the system browser is started from a daemon thread: webbrowser waits
    for a browser it runs as $BROWSER until that exits, and a caller that waits on a bound of
    its own (a loopback redirect) must take the code as soon as it arrives."""
    prompter.tell(f"Open this URL in a browser to log in: {url}")
    if skip:
        return
    if command:
        argv = shlex.split(command)
        if not argv:
            raise UsageError("--browser-command is empty")
        argv = [part.replace("%s", url) for part in argv] if "%s" in command else [*argv, url]
        try:
            # Not waited for: a browser may run until the person closes it.
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.warn(f"cannot run the browser command {argv[0]}: {os_reason(exc)}")
        return
    if background:
        threading.Thread(target=_open_in_background, args=(url,), daemon=True).start()
    else:
        _open_system_browser(url)


def _open_system_browser(url: str) -> None:
    try:
        # $BROWSER is honoured; on a machine without one this returns False.
        if not webbrowser.open(url):
            log.info("no browser could be opened; use the URL above")
    except webbrowser.Error as exc:
        log.info(f"no browser could be opened ({exc}); use the URL above")


def _open_in_background(url: str) -> None:
    try:
        _open_system_browser(url)
    except Exception as exc:  # nobody to raise to, and the login goes on: the URL is shown
        log.info(f"no browser could be opened ({type(exc).__name__}); use the URL above")
