"""The contact sheet's file names: one HTML page and the PNG grid in pages of beats.

Kept apart from :mod:`recoil.export.contact` (which loads PIL and PyAV) so that
code checking which files an export wrote stays light.
"""

from __future__ import annotations

import math

HTML_NAME = "contact.html"
PNG_NAME = "contact.png"
"""The first PNG page's name; later pages are ``contact-2.png``, ``contact-3.png``..."""
ROWS_PER_PAGE = 10
"""Beats on one PNG page: 10 rows of 192 px thumbnails make a page about 1,800 px tall
(two screens), and a change to one beat redraws 10 rows, not the whole sheet."""


def page_names(beats: int) -> tuple[str, ...]:
    """The PNG pages of a contact sheet of ``beats`` rows, in order (one page at least)."""
    pages = max(1, math.ceil(beats / ROWS_PER_PAGE))
    return (PNG_NAME, *(f"contact-{number}.png" for number in range(2, pages + 1)))
