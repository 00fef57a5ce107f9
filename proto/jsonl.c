/* placeholder: implemented by the jsonl module work */
#include "proto/jsonl.h"
