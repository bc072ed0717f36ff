"""Message contracts shared by every Parallax service: ids, subjects, envelopes, frames, constants.

Nothing here decides anything about the game or campaign rules; the two implementations share
these shapes and the constant data (the piece table), never rule code.
"""
