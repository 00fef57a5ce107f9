/* placeholder: implemented by the frame module work */
#include "proto/frame.h"
