/* placeholder: implemented by the journal module work */
#include "proto/journal.h"
