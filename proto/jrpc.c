/* placeholder: implemented by the jrpc module work */
#include "proto/jrpc.h"
