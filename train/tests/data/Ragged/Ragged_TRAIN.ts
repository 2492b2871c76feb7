# A tiny hand-written multivariate problem: 3 channels, unequal lengths (3 to 7), missing values.
@problemName Ragged
@timeStamps false
@missing true
@univariate false
@dimensions 3
@equalLength false
@classLabel true up down
@data
1,2,3:0.5,?,1.5:10,20,30:up
1,2,3,4,5,6,7:?,?,?,?,?,?,?:-1e-1,0,1E1,2,3,4,5:down
7,6,5,4:1,1,1,1:2,?,2,2:down
0,1,0,1,0:5.25,5.25,5.5,?,6:-3,-2,-1,0,1:up
