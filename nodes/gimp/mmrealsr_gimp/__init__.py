"""Files of the GIMP 3 plug-in; GIMP runs mmrealsr_gimp.py from a copy of this folder."""
