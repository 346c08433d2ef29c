"""The GIMP 3 plug-in (folder mmrealsr_gimp/, copied into a GIMP profile by `mmrealsr gimp install`)."""
