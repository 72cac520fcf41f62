/*
 * api_areas.c: GET /api/v1/areas, the areas in the caller's scope (docs/api.md, "Areas";
 * issue 13). Areas are added and removed from the command line (`camvault area`).
 */
#include <stdlib.h>

#include "server/areas.h"
#include "server/srv_int.h"
#include "common/banned.h"

/* GET /api/v1/areas */
SRV_API_LIST_IN_AREA(api_areas_list, "areas", struct srv_area, srv_area_list, srv_area_json, id)
