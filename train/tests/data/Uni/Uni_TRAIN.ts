#A tiny univariate problem of equal length, in the style of the UCR files.
@problemName Uni
@timeStamps false
@missing false
@univariate true
@equalLength true
@seriesLength 4
@classLabel true 1 2 3
@data
-0.71051757,-1.1833204,-1.3724416,-1.5930829:1
1.0861332,1.2752543,0.96005242,0.61333034:2
0.1720477,-0.26923494,4.5e-3,2:3
1,2,3,4:1
