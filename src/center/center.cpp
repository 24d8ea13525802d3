#include "center/center.h"
