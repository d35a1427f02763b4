"""The procedural training corpus: songs with exact beats (songs.py), dances and edit chains."""
