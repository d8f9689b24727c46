#include <cblas.h>

// Exported by OpenBLAS (pthread build) but not declared in cblas.h: re-read the OPENBLAS_* environment
// variables, and stop the worker threads (the next threaded product starts them again with the values read).
void openblas_read_env(void);
int blas_thread_shutdown_(void);
