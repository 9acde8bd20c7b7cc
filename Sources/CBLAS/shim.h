#include <cblas.h>
/* OpenBLAS's own thread control; declared in openblas_config.h, repeated here so
   the shim does not depend on where Debian puts that header. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
