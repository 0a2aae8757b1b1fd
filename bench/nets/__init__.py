"""Network architectures shared by methods: the 2D Y-net (CAD's student, the 2D baseline) and
the 3D U-Nets (superhuman, CAD's teacher; MALA)."""
