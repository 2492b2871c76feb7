#A tiny univariate problem of equal length, in the style of the UCR files.
@problemName Uni
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true 1 2 3
@data
4,3,2,1:3
0,0,0,0:2
